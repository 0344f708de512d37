"""The command table."""

from __future__ import annotations


def test_every_command_has_its_runner():
    from purejaxppo.cli.app import runner
    from purejaxppo.cli.options import COMMANDS

    for name in COMMANDS:
        assert callable(runner(name)), name
