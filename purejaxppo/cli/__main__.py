"""`python -m purejaxppo.cli ...` runs the command line."""

from purejaxppo.cli.app import main

raise SystemExit(main())
