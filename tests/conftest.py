"""Shared, compiled-once fixtures: compiling a train function costs seconds on 2 CPU cores.

The tests also share JAX's persistent compilation cache (in the temporary directory, so each
fresh machine starts empty): the many command-line tests start a new process each, which would
otherwise compile the same small programs again and again.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.join(tempfile.gettempdir(), f"purejaxppo-tests-jax-cache-{os.getuid()}"),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

# Imported after the cache settings, which JAX reads when it starts.
import jax
import pytest

from purejaxppo import PPOConfig, make_train
from tests.tiny import tiny_config

SMALL = tiny_config(12)


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
