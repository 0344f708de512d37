"""One training run as one pure function: the static `PPOConfig` and traced `HyperParams`,
networks, rollout, GAE, loss and update composed by `trainer.make_train`, and evaluation.

Imports `base` and `envs` only; nothing here knows about batches of runs, files or the shell."""
