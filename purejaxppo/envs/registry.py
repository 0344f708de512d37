"""Environments: build a gymnax environment and describe its spaces as plain Python/NumPy data."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import environment, spaces

from purejaxppo.base.errors import ConfigError
from purejaxppo.envs.ids import SUITES, check_env_id, parse_suite_id


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
    # True: the last num_actions entries of the (1-D) observation are the legal actions (1 = legal)
    # and the policy masks the others; an env says so with an `action_mask_in_obs` attribute.
    action_mask: bool = False
    # > 0: the flat observation is [actor part | critic part] and the critic's starts here (a
    # critic that sees privileged state: `dict_obs`); 0: actor and critic see all of it.
    obs_split: int = 0
    # > 0: a multi-agent env (`envs.multi_agent`): its observations, actions, rewards and dones
    # carry an agent axis after the env axis, and obs_shape/action_shape are one agent's.
    num_agents: int = 0
    # > 0: every episode is cut at this many steps at the latest, so a rollout of T steps holds
    # at most ceil(T / time_limit) truncations per env (or agent); an env says so with a
    # `time_limit_steps` attribute (multi-agent envs whose step count is known).
    time_limit: int = 0

    @property
    def agents(self) -> tuple[int, ...]:
        """The shape of the agent axes of every per-step array: (num_agents,) or ()."""
        return (self.num_agents,) if self.num_agents else ()

    @property
    def obs_size(self) -> int:
        """Length of the flattened observation."""
        return int(np.prod(self.obs_shape, dtype=np.int64))


@functools.cache  # environments hold no mutable state; building some (Brax) takes seconds
def make_env(env_id: str) -> tuple[Any, Any]:
    """`gymnax.make(env_id)` with an error that lists what exists; `SUITE:NAME` builds through the
    adapter of its suite (`ids.SUITES`; the suite's extra must be installed)."""
    check_env_id(env_id)
    suite_id = parse_suite_id(env_id) if env_id not in gymnax.registered_envs else None
    if suite_id is not None:
        env = SUITES[suite_id[0]].load("adapter")(suite_id[1])
        return env, env.default_params
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
    agents = int(getattr(env, "num_agents", 0) or 0)
    if agents:  # the observation space is [num_agents, *one agent's]
        obs_shape = obs_shape[1:]
    categories = int(obs_space.n) if isinstance(obs_space, spaces.Discrete) else 0
    masked = bool(getattr(env, "action_mask_in_obs", False))
    split = int(getattr(env, "obs_split", 0))
    limit = int(getattr(env, "time_limit_steps", 0) or 0)
    if masked and not (isinstance(action_space, spaces.Discrete) and len(obs_shape) == 1):
        raise ValueError(
            f"environment {name}: an action mask in the observation needs Discrete actions and "
            f"a flat observation (here {action_space!r}, shape {obs_shape})."
        )
    if isinstance(action_space, spaces.Discrete):
        return EnvSpec(
            name, obs_shape, discrete=True, num_actions=int(action_space.n),
            obs_categories=categories, action_mask=masked, obs_split=split, num_agents=agents,
            time_limit=limit,
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
        return EnvSpec(
            name, obs_shape, False, size, shape, low, high, categories, obs_split=split,
            num_agents=agents, time_limit=limit,
        )  # fmt: skip
    raise ValueError(
        f"environment {name}: action space {action_space!r} is neither Discrete nor Box. "
        "Fix: wrap the environment so that it exposes one of them."
    )


@functools.cache
def describe_env_id(env_id: str) -> EnvSpec:
    """`describe_env` for a registered id (cached: building some envs takes seconds)."""
    env, env_params = make_env(env_id)
    return describe_env(env, env_params)


@dataclasses.dataclass(frozen=True)
class BatchedStep:
    """N copies of an env stepped together, with gymnax's automatic reset.

    `keys(key)` draws the random keys of all `num_steps` steps at once ([T, N, ...]);
    `step(keys[t], states, actions)` steps the N envs and returns gymnax's `(obs, states, reward,
    terminated, truncated, info)` with leading axis N, `info["final_observation"]` included.
    """

    keys: Callable[[jax.Array], jax.Array]
    step: Callable[[jax.Array, Any, jax.Array], tuple[Any, ...]]


def make_batched_step(env: Any, env_params: Any, num_steps: int, num_envs: int) -> BatchedStep:
    """`BatchedStep` for `env`. An env whose `step` is gymnax's own `Environment.step` is stepped
    by `auto_reset_step`, with its step and reset keys split before the rollout's loop; any other
    (a wrapper, an env with its own `step`) through its `step`."""
    if type(env).step is not environment.Environment.step:
        vmapped = jax.vmap(env.step, in_axes=(0, 0, 0, None))
        return BatchedStep(
            keys=lambda key: jax.random.split(key, (num_steps, num_envs)),
            step=lambda keys, states, actions: vmapped(keys, states, actions, env_params),
        )
    pool = env.reset_pool_size(num_envs) if hasattr(env, "reset_pool_size") else None
    if pool is not None and pool < num_envs:

        def pooled_keys(key: jax.Array) -> tuple[jax.Array, jax.Array]:
            step_key, reset_key = jax.random.split(key)
            return (jax.random.split(step_key, (num_steps, num_envs)),
                    jax.random.split(reset_key, (num_steps, pool)))  # fmt: skip

        def pooled(keys: tuple[jax.Array, jax.Array], states: Any, actions: jax.Array):
            return pooled_reset_step(env, keys[0], keys[1], states, actions, env_params)

        return BatchedStep(pooled_keys, pooled)
    auto_reset = jax.vmap(functools.partial(auto_reset_step, env), in_axes=(0, 0, 0, 0, None))

    def keys(key: jax.Array) -> jax.Array:
        # [T, N, 2]: the (step, reset) keys that env.step would split each [T, N] key into.
        return jax.vmap(jax.vmap(jax.random.split))(jax.random.split(key, (num_steps, num_envs)))

    def step(keys: jax.Array, states: Any, actions: jax.Array) -> tuple[Any, ...]:
        return auto_reset(keys[:, 0], keys[:, 1], states, actions, env_params)

    return BatchedStep(keys, step)


def auto_reset_step(
    env: Any, key_step: jax.Array, key_reset: jax.Array, state: Any, action: Any, params: Any
) -> tuple[Any, ...]:
    """gymnax 1.0's `Environment.step` with its key split done by the caller: given
    `(key_step, key_reset) = jax.random.split(key)` it returns what `env.step(key, ...)` does
    (a test checks it for every gymnax env).

    Why not `env.step`: the rollout splits the keys of all its steps before its loop, in one
    vectorised call, because on XLA:CPU every call of the random-bit generator inside the loop
    is itself a loop of 16 kernels run 5 times. (Drawing the reset states of all steps before the
    loop as well cut the kernel calls further but was slower: docs/benchmark-notes.md.)
    """
    obs_st, state_st, reward, terminated, info = env.step_env(key_step, state, action, params)
    truncated = env.is_truncated(state_st, params)
    done = jnp.logical_or(terminated, truncated)
    obs_re, state_re = env.reset_env(key_reset, params)
    state = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), state_re, state_st)
    obs = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), obs_re, obs_st)
    info = {**info, "terminated": terminated, "truncated": truncated, "final_observation": obs_st}
    return obs, state, reward, terminated, truncated, info


def pooled_reset_step(
    env: Any, key_steps: jax.Array, key_resets: jax.Array, states: Any, actions: Any, params: Any
) -> tuple[Any, ...]:
    """`auto_reset_step` for N envs at once, for an env whose reset costs many steps (Craftax's
    world generation): only P = len(key_resets) fresh states are made per step, and the envs that
    ended take them in turn (the k-th ended env the (k mod P)-th), so when more than P end in the
    same step some start from the same state. Termination, truncation and the final observation
    are as in `auto_reset_step`. An env opts in with a method `reset_pool_size(num_envs) -> P`."""
    step = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))
    obs_st, state_st, reward, terminated, info = step(key_steps, states, actions, params)
    truncated = jax.vmap(env.is_truncated, in_axes=(0, None))(state_st, params)
    done = jnp.logical_or(terminated, truncated)
    obs_re, state_re = jax.vmap(env.reset_env, in_axes=(0, None))(key_resets, params)
    slot = (jnp.cumsum(done) - 1) % key_resets.shape[0]

    def take(fresh: jax.Array, stepped: jax.Array) -> jax.Array:
        mask = done.reshape(done.shape + (1,) * (stepped.ndim - 1))
        return jnp.where(mask, fresh[slot], stepped)

    state = jax.tree.map(take, state_re, state_st)
    obs = jax.tree.map(take, obs_re, obs_st)
    info = {**info, "terminated": terminated, "truncated": truncated, "final_observation": obs_st}
    return obs, state, reward, terminated, truncated, info


def registered_env_ids() -> list[str]:
    """The environment ids that `purejaxppo envs` lists (gymnax's registry)."""
    return list(gymnax.registered_envs)
