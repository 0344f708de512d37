"""Environments: build a gymnax environment and describe its spaces as plain Python/NumPy data."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import gymnax
import numpy as np
from gymnax.environments import spaces

from purejaxppo.config import ConfigError


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """What the networks and the rollout need to know about an environment (static data only)."""

    name: str
    obs_shape: tuple[int, ...]
    discrete: bool
    num_actions: int  # number of choices (Discrete) or action dimensions (Box)
    action_shape: tuple[int, ...] = ()  # one action as the env receives it; () when discrete
    action_low: np.ndarray | None = None  # Box bounds, shape [num_actions]; None when discrete
    action_high: np.ndarray | None = None
    obs_categories: int = 0  # Discrete observation space: its size (networks one-hot it); else 0

    @property
    def obs_size(self) -> int:
        """Length of the flattened observation."""
        return int(np.prod(self.obs_shape, dtype=np.int64))


@functools.cache  # environments hold no mutable state; building some (Brax) takes seconds
def make_env(env_id: str) -> tuple[Any, Any]:
    """`gymnax.make(env_id)` with an error that lists what exists; `NAME-brax[-BACKEND]` builds a
    Brax environment through `purejaxppo.brax_env` (needs the brax extra)."""
    from purejaxppo.brax_env import BraxEnvironment, parse_brax_id

    brax_id = parse_brax_id(env_id)
    if brax_id is not None and env_id not in gymnax.registered_envs:
        env = BraxEnvironment(*brax_id)
        return env, env.default_params
    if env_id not in gymnax.registered_envs:
        known = ", ".join(gymnax.registered_envs)
        raise ConfigError(
            f"PPOConfig.env_id={env_id!r}: not a registered gymnax environment. Fix: use one of "
            f"{known}, a Brax environment as NAME-brax (e.g. hopper-brax, with the brax extra), or "
            "register yours with gymnax.register(env_id, factory) (or pass env=... to make_train)."
        )
    try:
        return gymnax.make(env_id)
    except Exception as error:  # e.g. MNISTBandit downloads its data set when built
        raise ConfigError(
            f"PPOConfig.env_id={env_id!r}: gymnax could not build it ({type(error).__name__}: "
            f"{error}). Fix: choose another environment or make its data available."
        ) from error


def describe_env(env: Any, env_params: Any) -> EnvSpec:
    """Read the observation and action spaces of a gymnax environment into an `EnvSpec`."""
    obs_space = env.observation_space(env_params)
    action_space = env.action_space(env_params)
    obs_shape = tuple(int(d) for d in obs_space.shape)
    name = getattr(env, "name", type(env).__name__)
    categories = int(obs_space.n) if isinstance(obs_space, spaces.Discrete) else 0
    if isinstance(action_space, spaces.Discrete):
        return EnvSpec(
            name, obs_shape, discrete=True, num_actions=int(action_space.n),
            obs_categories=categories,
        )  # fmt: skip
    if isinstance(action_space, spaces.Box):
        shape = tuple(int(d) for d in action_space.shape)
        if len(shape) > 1:
            raise ValueError(
                f"environment {name}: Box action space of shape {shape} is not supported. "
                "Fix: present a flat (1-D) action vector."
            )
        size = int(np.prod(shape, dtype=np.int64))
        low = np.broadcast_to(np.asarray(action_space.low, np.float32), (size,)).copy()
        high = np.broadcast_to(np.asarray(action_space.high, np.float32), (size,)).copy()
        return EnvSpec(name, obs_shape, False, size, shape, low, high, categories)
    raise ValueError(
        f"environment {name}: action space {action_space!r} is neither Discrete nor Box. "
        "Fix: wrap the environment so that it exposes one of them."
    )


@functools.cache
def describe_env_id(env_id: str) -> EnvSpec:
    """`describe_env` for a registered id (cached: configs are validated often)."""
    env, env_params = make_env(env_id)
    return describe_env(env, env_params)
