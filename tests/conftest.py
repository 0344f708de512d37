"""Shared, compiled-once fixtures: compiling a train function costs seconds on 2 CPU cores."""

from __future__ import annotations

import jax
import pytest

from purejaxppo import PPOConfig, make_train

SMALL = PPOConfig(num_envs=4, num_steps=32, total_timesteps=4 * 32 * 12, num_minibatches=2)


@pytest.fixture(scope="session")
def small_config() -> PPOConfig:
    return SMALL


@pytest.fixture(scope="session")
def small_train():
    """jit(train) for SMALL: (key, hparams) -> TrainResult."""
    return jax.jit(make_train(SMALL))


@pytest.fixture(scope="session")
def small_train_seeds():
    """jit(vmap(train)) over keys for SMALL."""
    return jax.jit(jax.vmap(make_train(SMALL), in_axes=(0, None)))
