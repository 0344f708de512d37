"""Brax environments through the gymnax interface (the optional `purejaxppo[brax]` extra).

`BraxEnvironment` wraps an unwrapped Brax env (no Brax episode or auto-reset wrappers) as a gymnax
`Environment`, so the rollout, GAE and the runner treat it like any other env:

* Brax's `done` is a **termination** (the body fell, the pole dropped): no bootstrap;
* the time limit is gymnax's own truncation (`max_steps_in_episode`, 1000 by default, Brax's
  usual episode length): it bootstraps from the value of the final observation;
* the final observation of an ended episode is gymnax's `info["final_observation"]`.

Env ids: `brax:NAME` (Brax's default pipeline) or `brax:NAME-BACKEND` with BACKEND one of
generalized, positional, spring, mjx, e.g. `brax:hopper` or `brax:inverted_pendulum-spring`
(the older `hopper-brax`, `inverted_pendulum-brax-spring` are still read).
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from purejaxppo.base.errors import ConfigError
from purejaxppo.envs.ids import BRAX_BACKENDS as BACKENDS
from purejaxppo.envs.ids import brax_id, parse_brax_id


@struct.dataclass
class BraxState(environment.EnvState):
    inner: Any  # the Brax `State` (pipeline state, obs, reward, done, ...)


@struct.dataclass
class BraxParams(environment.EnvParams):
    max_steps_in_episode: int = 1000
    # The Brax `System` simulated (None: the env's own). Domain randomisation replaces it per
    # episode, e.g. `params.replace(sys=params.sys.tree_replace({"gravity": ...}))` (the
    # field a pipeline reads: generalized, positional and spring read `sys.gravity`).
    sys: Any = None


def _import_brax_envs():
    try:
        # MuJoCo's MJX prints "Failed to import warp" on stdout when its optional GPU backend is
        # missing; that is not ours to show (stdout carries tables and summaries).
        with contextlib.redirect_stdout(io.StringIO()):
            from brax import envs
    except ImportError as error:
        raise ConfigError(
            f"Brax environments need the brax package ({error}). Fix: pip install "
            "'purejaxppo[brax]'."
        ) from error
    return envs


def brax_env_names() -> list[str]:
    """The Brax environment names (needs brax)."""
    return sorted(_import_brax_envs()._envs)


def from_name(name: str) -> BraxEnvironment:
    """The adapter for `brax:NAME` or `brax:NAME-BACKEND`."""
    return BraxEnvironment(*parse_brax_id(brax_id(name)))


class BraxEnvironment(environment.Environment[BraxState, BraxParams]):
    """A Brax env as a gymnax `Environment`; actions in [-1, 1]^action_size."""

    def __init__(self, name: str, backend: str | None = None, **kwargs: Any) -> None:
        super().__init__()
        envs = _import_brax_envs()
        if name not in envs._envs:
            raise ConfigError(
                f"PPOConfig.env_id={brax_id(name)!r}: Brax has no environment {name!r}. Fix: "
                f"use one of {', '.join(sorted(envs._envs))} (as brax:NAME)."
            )
        if backend is not None and backend not in BACKENDS:
            raise ConfigError(
                f"Brax backend={backend!r} is unknown. Fix: use one of {', '.join(BACKENDS)}."
            )
        options = {**kwargs, **({"backend": backend} if backend else {})}
        self.brax_name = name
        self.backend = backend
        self._env = envs.get_environment(name, **options)

    @property
    def name(self) -> str:
        return brax_id(self.brax_name, self.backend)

    @property
    def default_params(self) -> BraxParams:
        return BraxParams(sys=self._env.sys)

    def _simulating(self, params: BraxParams) -> Any:
        """The Brax env simulating `params.sys` (a shallow copy: Brax reads `self.sys`, as its
        own domain-randomisation wrapper relies on)."""
        if params.sys is None:
            return self._env
        env = copy.copy(self._env)
        env.sys = params.sys
        return env

    def reset_env(self, key: jax.Array, params: BraxParams) -> tuple[jax.Array, BraxState]:
        inner = self._simulating(params).reset(key)
        return inner.obs, BraxState(time=jnp.zeros((), jnp.int32), inner=inner)

    def step_env(self, key: jax.Array, state: BraxState, action: jax.Array, params: BraxParams):
        del key  # Brax's dynamics are deterministic given the state
        inner = self._simulating(params).step(state.inner, action)
        terminated = inner.done > 0.5
        new_state = BraxState(time=state.time + 1, inner=inner)
        return inner.obs, new_state, inner.reward, terminated, {}

    def action_space(self, params: BraxParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self._env.action_size,), jnp.float32)

    def observation_space(self, params: BraxParams) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self._env.observation_size,), jnp.float32)

    @property
    def num_actions(self) -> int:
        return self._env.action_size
