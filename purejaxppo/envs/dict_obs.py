"""Environments with dict observations (a `gymnax.spaces.Dict` of Boxes), as one flat vector.

`SplitObservations(env, actor_key, critic_key)` presents `[actor part | critic part]`: the
entry `actor_key` flattened, then the entry `critic_key` (None: every entry, in key order), and
says where the critic's part starts (`obs_split`). The networks read the two parts apart, so a
critic can see privileged state the actor never does (an asymmetric actor-critic), and running
observation statistics, kept per feature, are per key. With both keys None the observation is
every entry once (no split).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from purejaxppo.base.errors import ConfigError


def is_dict_space(space: Any) -> bool:
    return isinstance(space, spaces.Dict)


def _size(space: Any) -> int:
    return math.prod(int(d) for d in space.shape)


@struct.dataclass
class SplitState(environment.EnvState):
    inner: Any


class SplitObservations(environment.Environment):
    """`env`'s dict observations as `[actor part | critic part]` (see the module docstring)."""

    def __init__(
        self, env: Any, params: Any, actor_key: str | None, critic_key: str | None
    ) -> None:
        super().__init__()
        self.env = env
        entries = env.observation_space(params).spaces
        for field, key in (("actor_obs_key", actor_key), ("critic_obs_key", critic_key)):
            if key is not None and key not in entries:
                raise ConfigError(
                    f"PPOConfig.{field}={key!r}: {getattr(env, 'name', type(env).__name__)}'s "
                    f"observations have no such entry. Fix: one of {', '.join(sorted(entries))}, "
                    "or None for the whole observation."
                )
        whole = tuple(sorted(entries))
        split = actor_key is not None or critic_key is not None
        self.actor_keys = (actor_key,) if actor_key else whole
        self.critic_keys = ((critic_key,) if critic_key else whole) if split else ()
        self.obs_split = sum(_size(entries[k]) for k in self.actor_keys) if split else 0
        self.size = sum(_size(entries[k]) for k in (*self.actor_keys, *self.critic_keys))

    @property
    def name(self) -> str:
        return getattr(self.env, "name", type(self.env).__name__)

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    def flatten(self, obs: dict[str, jax.Array]) -> jax.Array:
        keys = (*self.actor_keys, *self.critic_keys)
        parts = [jnp.asarray(obs[k], jnp.float32).reshape(-1) for k in keys]
        return jnp.concatenate(parts)

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, SplitState]:
        obs, inner = self.env.reset_env(key, params)
        return self.flatten(obs), SplitState(time=inner.time, inner=inner)

    def step_env(self, key: jax.Array, state: SplitState, action: Any, params: Any):
        obs, inner, reward, terminated, info = self.env.step_env(key, state.inner, action, params)
        return self.flatten(obs), SplitState(time=inner.time, inner=inner), reward, terminated, info

    def is_truncated(self, state: SplitState, params: Any) -> jax.Array:
        return self.env.is_truncated(state.inner, params)

    def observation_space(self, params: Any) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self.size,), jnp.float32)

    def action_space(self, params: Any) -> Any:
        return self.env.action_space(params)

    @property
    def num_actions(self) -> int:
        return self.env.num_actions


def split_observations(env: Any, params: Any, actor_key: str | None, critic_key: str | None) -> Any:
    """`env` as is when its observations are arrays and no key is asked for; else its dict
    observations flattened and split for the actor and the critic."""
    dict_space = is_dict_space(env.observation_space(params))
    if not dict_space and (actor_key or critic_key):
        field = "actor_obs_key" if actor_key else "critic_obs_key"
        raise ConfigError(
            f"PPOConfig.{field}={actor_key or critic_key!r}: "
            f"{getattr(env, 'name', type(env).__name__)}'s observations are an array, not a "
            "dict of entries. Fix: leave actor_obs_key and critic_obs_key unset for this env."
        )
    return SplitObservations(env, params, actor_key, critic_key) if dict_space else env
