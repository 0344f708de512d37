"""What to run as a batch and how to score it: `train` (independent runs), `sweep`, `pbt` and
`es` (each a program for the engine), their search spaces and encodings, and the scores and
intervals over runs.

Imports `base`, `envs`, `core` and `engine` only."""
