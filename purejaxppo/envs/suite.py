"""What the adapters of other JAX suites (`SUITE:NAME` ids) share: a gymnax state holding the
suite's own state, params under which gymnax's step limit never fires (a suite ends its episodes
itself; the adapter says which ends are truncations through `is_truncated`), the id, and the
error that names the extra to install."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment

from purejaxppo.base.errors import ConfigError


@struct.dataclass
class SuiteState(environment.EnvState):
    inner: Any  # the suite's own state (xminigrid's TimeStep, Craftax's EnvState)


@struct.dataclass
class SuiteParams(environment.EnvParams):
    max_steps_in_episode: int = 2**30


def missing_extra(suite: str, extra: str, error: ImportError) -> ConfigError:
    return ConfigError(
        f"{suite} environments need the {extra} package ({error}). Fix: pip install "
        f"'purejaxppo[{extra}]'."
    )


class SuiteEnvironment(environment.Environment[SuiteState, SuiteParams]):
    """Base of an adapter: `prefix` and `suite_name` give the id `prefix:suite_name`."""

    prefix = ""

    def __init__(self, suite_name: str) -> None:
        super().__init__()
        self.suite_name = suite_name

    @property
    def name(self) -> str:
        return f"{self.prefix}:{self.suite_name}"

    @property
    def default_params(self) -> SuiteParams:
        return SuiteParams()

    @staticmethod
    def wrap(inner: Any, time: Any = None) -> SuiteState:
        return SuiteState(time=jnp.zeros((), jnp.int32) if time is None else time, inner=inner)
