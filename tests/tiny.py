"""The one tiny configuration the tests train (4 envs x 32 steps, 2 minibatches), as a config and
as command-line flags."""

from __future__ import annotations

from typing import Any

from purejaxppo import PPOConfig

TINY_FLAGS = ["--num-envs", "4", "--num-steps", "32", "--num-minibatches", "2"]


def tiny_config(updates: int = 12, **changes: Any) -> PPOConfig:
    """CartPole (unless `changes` say otherwise) for `updates` updates of 4 x 32 env steps."""
    return PPOConfig(
        num_envs=4, num_steps=32, total_timesteps=4 * 32 * updates, num_minibatches=2, **changes
    )
