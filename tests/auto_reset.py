"""Random play through the rollout's own auto-reset step (`envs.make_batched_step`), shared by
the suites' semantics tests: each checks what its adapter promises step by step, this drives."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from purejaxppo.envs.registry import make_batched_step


@dataclasses.dataclass
class Step:
    """One step of `num_envs` envs. Arrays from the step are NumPy; states stay JAX pytrees."""

    obs_before: np.ndarray  # [N, ...] the observation the actions were picked on
    state: Any  # the state before the step
    actions: np.ndarray
    obs: np.ndarray  # the next observation (a fresh episode's where one ended)
    new_state: Any
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    info: dict[str, Any]
    ended: Any  # `inner(state, actions)`: the suite's own step, where the test gives one
    length: np.ndarray  # [N] steps of each env's episode so far, this one included


def auto_reset_steps(
    env: Any,
    params: Any,
    num_envs: int,
    steps: int,
    pick: Callable[[jax.Array, jax.Array, Any], jax.Array],
    inner: Callable[[Any, jax.Array], Any] | None = None,
) -> Iterator[Step]:
    """Reset `num_envs` envs (key 0), then yield `steps` Steps, step t with key t + 1 split into
    `pick(key, obs, state) -> actions` and the auto-reset step's keys."""
    keys = jax.random.split(jax.random.key(0), num_envs)
    obs, state = jax.jit(jax.vmap(env.reset_env, in_axes=(0, None)))(keys, params)
    batched = make_batched_step(env, params, 1, num_envs)

    @jax.jit
    def step(key, obs, state):
        action_key, step_key = jax.random.split(key)
        actions = pick(action_key, obs, state)
        out = batched.step(batched.keys(step_key)[0], state, actions)
        return actions, out, None if inner is None else inner(state, actions)

    length = np.zeros(num_envs, int)
    for t in range(steps):
        actions, out, ended = step(jax.random.key(t + 1), obs, state)
        next_obs, new_state, reward, terminated, truncated, info = out
        length += 1
        record = Step(
            np.asarray(obs), state, np.asarray(actions), np.asarray(next_obs), new_state,
            np.asarray(reward), np.asarray(terminated), np.asarray(truncated), info, ended,
            length.copy(),
        )  # fmt: skip
        yield record
        length[record.terminated | record.truncated] = 0
        obs, state = next_obs, new_state
