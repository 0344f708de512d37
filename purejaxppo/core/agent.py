"""The network interface: what the rollout, GAE, the update, the loss, evaluation and PBT ask of an
actor-critic, so that none of them knows whether it is feed-forward or recurrent.

An `Agent` wraps a flax network. Its memory is what a policy carries from one env step to the next
(None for a feed-forward network; the GRU state and the episode-start flags for a recurrent one).
Feed-forward: only the actor runs inside the rollout; the critic runs afterwards on observations
and true next observations at once (one large matmul instead of num_steps small ones), and the
batch is flat. Recurrent: the GRU step and both heads run inside the rollout (the state advances
step by step), the values are kept, and the batch stays [num_steps, num_envs] sequences whose
minibatches are whole env sequences, replayed from the state that entered the rollout.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol

import distrax
import jax
import jax.numpy as jnp
from flax import struct

from purejaxppo.core.loss import Batch
from purejaxppo.core.networks import ActorCritic, RecurrentActorCritic, unroll


@struct.dataclass
class RecurrentCarry:
    """The GRU state of each env and whether its next step begins an episode."""

    hidden: Any  # [N, H] (a network of yours: its carry, any pytree with leading axis N);
    # a multi-agent env's [N, A, H]: one state per agent
    start: jax.Array  # [N] bool ([N, A])


def forget(memory: Any, replaced: jax.Array) -> Any:
    """The memory with envs of runs `replaced` [R] starting afresh at their next step (PBT: a
    member that copied another's parameters must not keep a state those never produced)."""
    if memory is None:
        return None
    grow = replaced.reshape(replaced.shape + (1,) * (memory.start.ndim - 1))
    return memory.replace(start=memory.start | grow)


class Rows:
    """A feed-forward network's memory (none) and batch: flat rows, minibatches of rows."""

    sequences: ClassVar[bool] = False

    def after_step(self, memory: None, done: jax.Array) -> None:
        return None

    def rollout_start(self, memory: None) -> dict[str, jax.Array]:
        """What the batch keeps of the memory that entered the rollout."""
        return {}

    def batch(self, traj: Any, values, advantages, targets) -> Batch:
        """The rollout as flat rows [T * N, ...]."""

        def flat(x: jax.Array) -> jax.Array:
            return x.reshape((-1, *x.shape[2:]))

        return Batch(
            obs=flat(traj.obs),
            action=flat(traj.action),
            log_prob=flat(traj.log_prob),
            value=flat(values),
            advantage=flat(advantages),
            target=flat(targets),
        )

    def take(self, batch: Batch, index: jax.Array) -> Batch:
        """The minibatch of rows `index`."""
        return jax.tree.map(lambda x: x[index], batch)


class Sequences:
    """A recurrent network's memory between steps (`RecurrentCarry`: its state and the episode
    starts) and batch: [T, N] env sequences, minibatches of whole sequences replayed from the
    memory that entered the rollout."""

    sequences: ClassVar[bool] = True

    def after_step(self, memory: RecurrentCarry, done: jax.Array) -> RecurrentCarry:
        return RecurrentCarry(hidden=memory.hidden, start=done)

    def rollout_start(self, memory: RecurrentCarry) -> dict[str, jax.Array]:
        return {"initial_hidden": memory.hidden}

    def batch(self, traj: Any, values, advantages, targets) -> Batch:
        """The rollout kept as sequences [T, N, ...] with what replays the GRU over them."""
        return Batch(
            obs=traj.obs,
            action=traj.action,
            log_prob=traj.log_prob,
            value=values,
            advantage=advantages,
            target=targets,
            start=traj.start,
            initial_hidden=traj.initial_hidden,
        )

    def take(self, batch: Batch, index: jax.Array) -> Batch:
        """The env sequences `index`: axis 1 of the [T, N, ...] leaves, axis 0 of
        initial_hidden (any pytree)."""
        hidden = jax.tree.map(lambda x: x[index], batch.initial_hidden)
        sequences = jax.tree.map(lambda x: x[:, index], batch.replace(initial_hidden=None))
        return sequences.replace(initial_hidden=hidden)


@dataclasses.dataclass(frozen=True)
class FeedForward(Rows):
    """An `ActorCritic` (MLP or CNN): no memory; the critic runs after the rollout."""

    network: ActorCritic

    def init(self, key: jax.Array, obs_shape: tuple[int, ...]) -> Any:
        return self.network.init(key, jnp.zeros((*self.network.init_batch, *obs_shape)))

    def initial_memory(self, batch: tuple[int, ...]) -> None:
        return None

    def noise(self, key: jax.Array, shape: tuple[int, int]) -> jax.Array:
        """The sampling noise of every step of a rollout at once (`sampling_noise`)."""
        return self.network.sampling_noise(key, shape)

    def sample(self, policy: distrax.Distribution, noise: jax.Array) -> jax.Array:
        return self.network.sample_with_noise(policy, noise)

    def act(
        self, params: Any, memory: None, obs: jax.Array
    ) -> tuple[distrax.Distribution, None, dict[str, jax.Array]]:
        """The policy at obs [N, ...]; the memory after the step; what the batch keeps of it."""
        return self.network.apply(params, obs, method=ActorCritic.actor), None, {}

    def values(self, params: Any, traj: Any) -> tuple[jax.Array, jax.Array]:
        """V(s_t) and V(s'_t) [T, N] of the true next observations: one critic pass on both."""
        both = self.network.apply(
            params, jnp.stack([traj.obs, traj.next_obs]), method=ActorCritic.critic
        )
        return both[0], both[1]

    def evaluate(self, params: Any, batch: Batch) -> tuple[distrax.Distribution, jax.Array]:
        """The current policy and values on a minibatch."""
        return self.network.apply(params, batch.obs)


@dataclasses.dataclass(frozen=True)
class Recurrent(Sequences):
    """A `RecurrentActorCritic`: the GRU state is the memory; minibatches are env sequences."""

    network: RecurrentActorCritic
    # The most time-limit truncations one env (or agent) can have in a rollout, where the env's
    # time limit is known (`EnvSpec.time_limit`); None: V(s'_t) is computed at every step.
    most_truncations: int | None = None

    def init(self, key: jax.Array, obs_shape: tuple[int, ...]) -> Any:
        batch = self.network.init_batch
        obs = jnp.zeros((*batch, *obs_shape), jnp.float32)
        return self.network.init(
            key, self.network.initial_hidden(batch), obs, jnp.ones(batch, bool)
        )

    def initial_memory(self, batch: tuple[int, ...]) -> RecurrentCarry:
        """A fresh state for each of `batch` envs ([N], or [N, agents])."""
        return RecurrentCarry(
            hidden=self.network.initial_hidden(batch), start=jnp.ones(batch, bool)
        )

    def noise(self, key: jax.Array, shape: tuple[int, int]) -> jax.Array:
        """The sampling noise of every step of a rollout at once (`sampling_noise`)."""
        return self.network.sampling_noise(key, shape)

    def sample(self, policy: distrax.Distribution, noise: jax.Array) -> jax.Array:
        return self.network.sample_with_noise(policy, noise)

    def act(
        self, params: Any, memory: RecurrentCarry, obs: jax.Array
    ) -> tuple[distrax.Distribution, RecurrentCarry, dict[str, jax.Array]]:
        hidden = self.network.apply(
            params, memory.hidden, obs, memory.start, method=RecurrentActorCritic.step
        )
        policy, value = self.network.apply(params, hidden, obs, method=RecurrentActorCritic.heads)
        kept = {"start": memory.start, "hidden": hidden, "value": value}
        return policy, memory.replace(hidden=hidden), kept

    def values(self, params: Any, traj: Any) -> tuple[jax.Array, jax.Array]:
        """The values kept at collection, and V(s'_t): the GRU state after step t continued on
        the true next observation. Where the episode goes on that is the next step's value,
        kept already; where it terminated it is never read. So with `most_truncations` known,
        the GRU runs again only on each env's truncated steps (at most that many) and its last
        step, not on all [T, N]: the exact bootstrap then costs a few rows per rollout, not a
        pass over it (measured in BENCHMARKS.md)."""
        if self.most_truncations is None:
            return traj.value, self._continued(params, traj.hidden, traj.next_obs)
        steps = traj.value.shape[0]
        needed = (traj.done & ~traj.terminated).at[-1].set(True)  # [T, N(, A)]
        count = min(steps, self.most_truncations + 1)
        # Each env's needed steps first (stable: in time order), then others as filler.
        order = jnp.argsort(~needed, axis=0, stable=True)[:count]  # [K, N(, A)]
        valid = jnp.take_along_axis(needed, order, axis=0)

        def pick(x: jax.Array) -> jax.Array:
            index = order.reshape(order.shape + (1,) * (x.ndim - order.ndim))
            return jnp.take_along_axis(x, index, axis=0)

        fresh = self._continued(params, pick(traj.hidden), pick(traj.next_obs))  # [K, N(, A)]
        at = (order[..., None] == jnp.arange(steps)) & valid[..., None]  # [K, N(, A), T]
        chosen = jnp.moveaxis(jnp.sum(jnp.where(at, fresh[..., None], 0.0), axis=0), -1, 0)
        shifted = jnp.concatenate([traj.value[1:], jnp.zeros_like(traj.value[:1])])
        return traj.value, jnp.where(jnp.moveaxis(at.any(axis=0), -1, 0), chosen, shifted)

    def _continued(self, params: Any, hidden: jax.Array, next_obs: jax.Array) -> jax.Array:
        """V of the GRU state `hidden` continued on `next_obs` (leading axes alike)."""
        next_hidden = self.network.apply(
            params,
            hidden,
            next_obs,
            jnp.zeros(hidden.shape[:-1], bool),
            method=RecurrentActorCritic.step,
        )
        # A privileged critic reads the next observation's critic part too.
        seen = (next_obs,) if self.network.obs_split else ()
        _, values = self.network.apply(
            params, next_hidden, *seen, method=RecurrentActorCritic.heads
        )
        return values

    def evaluate(self, params: Any, batch: Batch) -> tuple[distrax.Distribution, jax.Array]:
        hidden = unroll(self.network, params, batch.initial_hidden, batch.obs, batch.start)
        return self.network.apply(params, hidden, batch.obs, method=RecurrentActorCritic.heads)


class Agent(Protocol):
    """What every stage asks of a network (`FeedForward`, `Recurrent`, and `custom`'s two for
    a network of yours). Memory is None for a feed-forward network, a `RecurrentCarry` else."""

    network: Any
    sequences: bool  # the batch is [T, N] env sequences and minibatches are whole sequences

    def init(self, key: jax.Array, obs_shape: tuple[int, ...]) -> Any: ...
    def initial_memory(self, batch: tuple[int, ...]) -> Any: ...
    def noise(self, key: jax.Array, shape: tuple[int, int]) -> Any: ...
    def sample(self, policy: distrax.Distribution, noise: Any) -> jax.Array: ...
    def act(self, params: Any, memory: Any, obs: jax.Array) -> tuple[Any, Any, dict]: ...
    def after_step(self, memory: Any, done: jax.Array) -> Any: ...
    def rollout_start(self, memory: Any) -> dict[str, Any]: ...
    def values(self, params: Any, traj: Any) -> tuple[jax.Array, jax.Array]: ...
    def batch(self, traj: Any, values: Any, advantages: Any, targets: Any) -> Batch: ...
    def take(self, batch: Batch, index: jax.Array) -> Batch: ...
    def evaluate(self, params: Any, batch: Batch) -> tuple[Any, jax.Array]: ...


def agent_for(network: ActorCritic | RecurrentActorCritic) -> Agent:
    """The interface to `network`."""
    if isinstance(network, RecurrentActorCritic):
        return Recurrent(network)
    return FeedForward(network)
