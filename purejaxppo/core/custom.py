"""Your own network, through the same interface as the built-in ones (`agent`).

A feed-forward network is a `flax.linen.Module` with `__call__(obs) -> (distribution, value)`:
obs [B, *obs_shape] (normalised when `normalize_obs`), a `distrax.Distribution` over B actions
and values [B] (purejaxrl's convention). A recurrent one says so by its signature,
`__call__(carry, obs, reset) -> (carry, distribution, value)` with `reset` [B] bool (the step
begins an episode: the network starts from a fresh carry there), and has
`initialize_carry(batch_size) -> carry` (any pytree with leading axis batch_size). The rollout
stores the carry and the update replays whole env sequences from it, as for the built-in GRU.

Actions are drawn with the distribution's own `sample`, one key per step; `make_train` checks the
network's outputs against the environment before anything is compiled.

With `actor_obs_key`/`critic_obs_key` (a privileged critic) the observation is [actor entry |
critic entry]: a network of yours declares a field `obs_split: int = 0`, which is set to where
the critic's part starts, and keeps the actor to obs[..., :obs_split] itself.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.base.errors import ConfigError
from purejaxppo.core.agent import RecurrentCarry, Rows, Sequences
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.loss import Batch
from purejaxppo.envs.registry import EnvSpec


def _flat(x: jax.Array, axes: int) -> jax.Array:
    """Merge the leading `axes` axes into one."""
    return x.reshape((-1, *x.shape[axes:]))


@dataclasses.dataclass(frozen=True)
class Replayed:
    """What the loss reads of the policy replayed over whole sequences: the log-probabilities
    of the batch's actions and the entropies, [T, B] (distributions cannot leave a scan)."""

    log_probs: jax.Array
    entropies: jax.Array

    def log_prob(self, action: jax.Array) -> jax.Array:
        return self.log_probs

    def entropy(self) -> jax.Array:
        return self.entropies


class _Sampling:
    """Actions by the distribution's own sampler: one key per rollout step."""

    def noise(self, key: jax.Array, shape: tuple[int, int]) -> jax.Array:
        return jax.random.split(key, shape[0])

    def sample(self, policy: distrax.Distribution, key: jax.Array) -> jax.Array:
        return policy.sample(seed=key)


@dataclasses.dataclass(frozen=True)
class CustomFeedForward(_Sampling, Rows):
    """A network of yours: `__call__(obs) -> (distribution, value)`."""

    network: nn.Module

    def init(self, key: jax.Array, obs_shape: tuple[int, ...]) -> Any:
        return self.network.init(key, jnp.zeros((1, *obs_shape), jnp.float32))

    def initial_memory(self, batch: tuple[int, ...]) -> None:
        return None

    def act(self, params: Any, memory: None, obs: jax.Array):
        policy, _ = self.network.apply(params, obs)
        return policy, None, {}

    def values(self, params: Any, traj: Any) -> tuple[jax.Array, jax.Array]:
        both = jnp.stack([traj.obs, traj.next_obs])  # [2, T, N, (agents,) ...]
        axes = 1 + traj.done.ndim
        _, value = self.network.apply(params, _flat(both, axes))
        value = value.reshape(both.shape[:axes])
        return value[0], value[1]

    def evaluate(self, params: Any, batch: Batch) -> tuple[distrax.Distribution, jax.Array]:
        return self.network.apply(params, batch.obs)


@dataclasses.dataclass(frozen=True)
class CustomRecurrent(_Sampling, Sequences):
    """A recurrent network of yours: `__call__(carry, obs, reset) -> (carry, distribution,
    value)` and `initialize_carry(batch_size)`."""

    network: nn.Module

    def init(self, key: jax.Array, obs_shape: tuple[int, ...]) -> Any:
        obs = jnp.zeros((1, *obs_shape), jnp.float32)
        carry = self.network.initialize_carry(1)
        return self.network.init(key, carry, obs, jnp.ones((1,), bool))

    def initial_memory(self, batch: tuple[int, ...]) -> RecurrentCarry:
        """`initialize_carry` of all `batch` envs (or env agents) at once, shaped [*batch, ...]."""
        carry = self.network.initialize_carry(math.prod(batch))
        carry = jax.tree.map(lambda x: x.reshape((*batch, *x.shape[1:])), carry)
        return RecurrentCarry(hidden=carry, start=jnp.ones(batch, bool))

    def act(self, params: Any, memory: RecurrentCarry, obs: jax.Array):
        carry, policy, value = self.network.apply(params, memory.hidden, obs, memory.start)
        kept = {"start": memory.start, "hidden": carry, "value": value}
        return policy, memory.replace(hidden=carry), kept

    def values(self, params: Any, traj: Any) -> tuple[jax.Array, jax.Array]:
        """Collection-time values, and V(s'_t) from the carry after step t on the true next
        observation, for all [T, N] steps as one batch."""
        shape = traj.done.shape  # [T, N] or [T, N, agents]
        hidden = jax.tree.map(lambda x: _flat(x, len(shape)), traj.hidden)
        reset = jnp.zeros((math.prod(shape),), bool)
        next_obs = _flat(traj.next_obs, len(shape))
        _, _, next_values = self.network.apply(params, hidden, next_obs, reset)
        return traj.value, next_values.reshape(shape)

    def evaluate(self, params: Any, batch: Batch) -> tuple[Replayed, jax.Array]:
        """The network replayed over the sequences from the carry that entered the rollout."""

        def step(carry: Any, inputs: tuple[jax.Array, ...]):
            obs, start, action = inputs
            carry, policy, value = self.network.apply(params, carry, obs, start)
            return carry, (policy.log_prob(action), policy.entropy(), value)

        inputs = (batch.obs, batch.start, batch.action)
        _, (log_probs, entropies, values) = jax.lax.scan(step, batch.initial_hidden, inputs)
        return Replayed(log_probs, entropies), values


def is_recurrent(network: nn.Module) -> bool:
    """A network is recurrent when it can make a carry (`initialize_carry`)."""
    return callable(getattr(network, "initialize_carry", None))


def with_split(network: nn.Module, split: int) -> nn.Module:
    """`network` told where the critic's part of the observation starts (actor_obs_key /
    critic_obs_key): its field `obs_split` is set, so it can read obs[..., :obs_split] as the
    actor's entry and obs[..., obs_split:] as the critic's."""
    if "obs_split" not in {field.name for field in dataclasses.fields(network)}:
        raise ConfigError(
            f"network={type(network).__name__}: with actor_obs_key/critic_obs_key set, the "
            "observation is [actor entry | critic entry] and your network needs to know where "
            "the critic's part starts. Fix: give the Module a field `obs_split: int = 0`; it is "
            "set for you, and obs[..., :self.obs_split] is the actor's entry."
        )
    return network.clone(obs_split=split)


def custom_agent(network: nn.Module, spec: EnvSpec, config: PPOConfig) -> Any:
    """The interface to a network of yours, after checking its outputs against the env."""
    if not isinstance(network, nn.Module):
        raise ConfigError(
            f"network={network!r}: not a flax.linen.Module. Fix: pass an instance of a Module "
            "whose __call__(obs) returns (distrax distribution, value[batch])."
        )
    if spec.obs_split:
        network = with_split(network, spec.obs_split)
    if is_recurrent(network) and config.num_envs % config.num_minibatches:
        raise ConfigError(
            f"PPOConfig.num_minibatches={config.num_minibatches}: must divide num_envs="
            f"{config.num_envs} with a recurrent network (minibatches are whole env sequences). "
            "Fix: e.g. num_minibatches=1 or a num_envs it divides."
        )
    agent = CustomRecurrent(network) if is_recurrent(network) else CustomFeedForward(network)
    check_outputs(agent, spec)
    return agent


def check_outputs(agent: Any, spec: EnvSpec, batch: int = 2) -> None:
    """Raise ConfigError unless the network gives a distribution over the env's actions and one
    value per observation (shapes only: nothing runs)."""
    name = type(agent.network).__name__

    def fail(problem: str, fix: str) -> ConfigError:
        return ConfigError(f"network={name}: {problem}. Fix: {fix}.")

    rows = (batch, *spec.agents)  # a multi-agent env's observations are [N, agents, ...]

    def outputs(key: jax.Array) -> tuple[Any, Any]:
        params = agent.init(key, spec.obs_shape)
        obs = jnp.zeros((*rows, *spec.obs_shape), jnp.float32)
        policy, _, _ = agent.act(params, agent.initial_memory(rows), obs)
        if not isinstance(policy, distrax.Distribution):
            raise fail(
                f"returned {type(policy).__name__} as the policy",
                "return a distrax Distribution (e.g. distrax.Categorical(logits=...)) and values",
            )
        categories.append(getattr(policy, "num_categories", spec.num_actions))
        action = policy.sample(seed=key)
        _, value = agent.evaluate(params, _probe_batch(agent, obs, action, rows))
        return action, value

    categories: list[int] = []  # a Categorical's size, read while the shapes are traced

    try:
        action, value = jax.eval_shape(outputs, jax.random.key(0))
    except ConfigError:
        raise
    except Exception as error:  # a shape or type error inside the user's module
        raise fail(f"could not run on observations of shape {(*rows, *spec.obs_shape)} ({error})",
                   "make __call__ take [batch, *obs_shape] observations (with agents, any "
                   "leading batch axes: [envs, agents, *obs_shape])") from error  # fmt: skip
    wanted = rows if spec.discrete else (*rows, spec.num_actions)
    if action.shape != wanted:
        raise fail(
            f"samples actions of shape {action.shape[1:]} for {spec.name}, whose "
            f"{'Discrete' if spec.discrete else 'Box'} actions need {wanted[1:]}",
            "a Categorical over num_actions logits (Discrete) or a distribution over "
            "num_actions dimensions (Box)",
        )
    if spec.discrete and categories[0] != spec.num_actions:
        raise fail(
            f"chooses among {categories[0]} actions, and {spec.name} has {spec.num_actions}",
            f"a Categorical over {spec.num_actions} logits",
        )
    if spec.discrete and not np.issubdtype(action.dtype, np.integer):
        raise fail(f"samples {action.dtype} actions for a Discrete space", "use a Categorical")
    if value.shape[-len(rows) :] != rows or value.ndim > len(rows) + 1:
        raise fail(f"returns values of shape {value.shape}", "return one value per observation")


def _probe_batch(agent: Any, obs: jax.Array, action: jax.Array, rows: tuple[int, ...]) -> Batch:
    """A batch of the samples `obs`, `action` with batch axes `rows` (one step of a sequence
    for a recurrent one)."""
    zeros = jnp.zeros(rows, jnp.float32)
    batch = Batch(obs, action, zeros, zeros, zeros, zeros)
    if not agent.sequences:
        return batch
    sequence = jax.tree.map(lambda x: x[None], batch.replace(start=jnp.ones(rows, bool)))
    return sequence.replace(initial_hidden=agent.initial_memory(rows).hidden)
