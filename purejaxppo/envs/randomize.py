"""Domain randomisation: an environment whose parameters are drawn anew at every episode's reset,
per environment, and carried in its state.

`Randomized(env, randomize)` with `randomize(key, env_params) -> env_params` (same pytree, same
shapes: a traced function of the key, e.g. a uniform draw around the default). Every reset, the
automatic ones inside the rollout included, draws from the parameters the env is built with; the
step and the time limit then use the episode's own draw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from flax import struct
from gymnax.environments import environment

from purejaxppo.base.errors import ConfigError

Randomize = Callable[[jax.Array, Any], Any]


@struct.dataclass
class RandomizedState(environment.EnvState):
    inner: Any  # the env's own state
    params: Any  # the parameters this episode was drawn with


class Randomized(environment.Environment):
    """`env` under parameters drawn by `randomize` at every reset (see the module docstring)."""

    def __init__(self, env: Any, randomize: Randomize) -> None:
        super().__init__()
        self.env = env
        self.randomize = randomize

    @property
    def name(self) -> str:
        return f"{getattr(self.env, 'name', type(self.env).__name__)} (randomised)"

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, RandomizedState]:
        draw_key, reset_key = jax.random.split(key)
        drawn = self.randomize(draw_key, params)
        obs, inner = self.env.reset_env(reset_key, drawn)
        return obs, RandomizedState(time=inner.time, inner=inner, params=drawn)

    def step_env(self, key: jax.Array, state: RandomizedState, action: Any, params: Any):
        obs, inner, reward, terminated, info = self.env.step_env(
            key, state.inner, action, state.params
        )
        return obs, state.replace(time=inner.time, inner=inner), reward, terminated, info

    def is_truncated(self, state: RandomizedState, params: Any) -> jax.Array:
        return self.env.is_truncated(state.inner, state.params)

    def observation_space(self, params: Any) -> Any:
        return self.env.observation_space(params)

    def action_space(self, params: Any) -> Any:
        return self.env.action_space(params)

    @property
    def num_actions(self) -> int:
        return self.env.num_actions


def randomized(env: Any, randomize: Randomize, params: Any) -> Randomized:
    """`Randomized(env, randomize)` after checking that `randomize(key, params)` returns
    parameters of the same structure and shapes (nothing runs)."""
    name = getattr(randomize, "__qualname__", repr(randomize))
    try:
        drawn = jax.eval_shape(randomize, jax.random.key(0), params)
    except Exception as error:
        raise ConfigError(
            f"randomize={name}: could not run on (key, env_params) ({type(error).__name__}: "
            f"{error}). Fix: randomize(key, env_params) -> env_params, traced (jax.random)."
        ) from error
    shapes = jax.tree.map(lambda x: jax.numpy.shape(x), params)
    if jax.tree.structure(drawn) != jax.tree.structure(params) or (
        jax.tree.map(lambda x: x.shape, drawn) != shapes
    ):
        raise ConfigError(
            f"randomize={name}: returned {jax.tree.structure(drawn)}, not parameters shaped like "
            f"the env's. Fix: return env_params.replace(field=...) with scalar draws."
        )
    return Randomized(env, randomize)
