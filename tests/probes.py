"""Probe environments: tiny gymnax MDPs whose optimal values and policies are known exactly.

Each takes `continuous`: a Discrete(2) action space when False, Box(-1, 1, (1,)) when True.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class ProbeState(environment.EnvState):
    obs: jax.Array
    time: int


@struct.dataclass
class ProbeParams(environment.EnvParams):
    max_steps_in_episode: int = 1000


class Probe(environment.Environment):
    """Base: a one-number observation, actions that do nothing unless a subclass says so."""

    max_steps = 1000

    def __init__(self, continuous: bool = False):
        super().__init__()
        self.continuous = continuous

    @property
    def default_params(self) -> ProbeParams:
        return ProbeParams(max_steps_in_episode=self.max_steps)

    def action_space(self, params: Any = None):
        return spaces.Box(-1.0, 1.0, (1,)) if self.continuous else spaces.Discrete(2)

    def observation_space(self, params: Any = None):
        return spaces.Box(-1.0, 1.0, (1,))

    def first_obs(self, key: jax.Array) -> jax.Array:
        return jnp.zeros((1,), jnp.float32)

    def reset_env(self, key: jax.Array, params: Any):
        state = ProbeState(obs=self.first_obs(key), time=0)
        return state.obs, state

    def transition(self, key, state: ProbeState, action) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(next obs, reward, terminated)."""
        raise NotImplementedError

    def step_env(self, key: jax.Array, state: ProbeState, action: Any, params: Any):
        obs, reward, terminated = self.transition(key, state, action)
        state = ProbeState(obs=obs, time=state.time + 1)
        return obs, state, jnp.asarray(reward, jnp.float32), jnp.asarray(terminated), {}


class ConstantReward(Probe):
    """One step, reward 1: V = 1."""

    def transition(self, key, state, action):
        return state.obs, 1.0, True


class ObservedReward(Probe):
    """One step, observation +-1 at random, reward = observation: V(o) = o."""

    def first_obs(self, key):
        return jnp.where(jax.random.bernoulli(key), 1.0, -1.0).reshape((1,))

    def transition(self, key, state, action):
        return state.obs, state.obs[0], True


class ActionReward(Probe):
    """One step, observation +-1; the best action depends on it.

    Discrete: reward 1 for action 1 when o = +1 and for action 0 when o = -1, else -1.
    Continuous: reward -(a - o / 2)^2, so the best mean action is o / 2.
    """

    def first_obs(self, key):
        return jnp.where(jax.random.bernoulli(key), 1.0, -1.0).reshape((1,))

    def transition(self, key, state, action):
        o = state.obs[0]
        if self.continuous:
            reward = -((action[0] - o / 2.0) ** 2)
        else:
            reward = jnp.where((action == 1) == (o > 0), 1.0, -1.0)
        return state.obs, reward, True


class TwoStep(Probe):
    """Observation 0 then 1, reward 1 only on the second step: V(0) = gamma, V(1) = 1."""

    def transition(self, key, state, action):
        second = state.time >= 1
        return jnp.ones((1,), jnp.float32), jnp.where(second, 1.0, 0.0), second


class NeverEnding(Probe):
    """Reward 1 forever, a constant observation, cut by a 10-step time limit: V = 1 / (1 - gamma).

    The time limit is a truncation, invisible in the observation: a trainer that treats it as
    termination learns the average of the 10 shortened returns instead.
    """

    max_steps = 10

    def transition(self, key, state, action):
        return state.obs, 1.0, False


class NeverEndingTruncationAsTermination(NeverEnding):
    """NeverEnding as a trainer that conflates truncation with termination sees it."""

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        return obs, state, reward, jnp.logical_or(terminated, truncated), truncated, info


class BlowsUp(Probe):
    """Observation 0 then 1, reward 1 a step; the second step terminates on a NaN observation
    and a NaN reward, as a simulation that diverged does (dm_control, Playground)."""

    def transition(self, key, state, action):
        second = state.time >= 1
        obs = jnp.where(second, jnp.nan, 1.0) * jnp.ones((1,), jnp.float32)
        return obs, jnp.where(second, jnp.nan, 1.0), second


class PrivilegedReward(Probe):
    """One-step episodes whose reward is a coin drawn at reset: the observation is a dict whose
    "state" says nothing and whose "privileged" entry is the coin, so only a critic that sees
    the privileged entry can predict the return."""

    def observation_space(self, params: Any = None):
        box = spaces.Box(-1.0, 1.0, (1,))
        return spaces.Dict({"state": box, "privileged": box})

    def first_obs(self, key: jax.Array) -> jax.Array:
        return jax.random.bernoulli(key).astype(jnp.float32)[None]

    def reset_env(self, key: jax.Array, params: Any):
        state = ProbeState(obs=self.first_obs(key), time=0)
        return self.observe(state.obs), state

    def observe(self, coin: jax.Array) -> dict[str, jax.Array]:
        return {"state": jnp.zeros((1,), jnp.float32), "privileged": coin}

    def step_env(self, key: jax.Array, state: ProbeState, action: Any, params: Any):
        reward = state.obs[0]
        new = ProbeState(obs=jnp.zeros((1,), jnp.float32), time=state.time + 1)
        return self.observe(new.obs), new, reward, jnp.asarray(True), {}
