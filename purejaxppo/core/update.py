"""The PPO update: update_epochs passes over a fresh permutation of the batch, in minibatches.

All epochs' minibatches run as one loop; each step gathers its rows from the batch, so no
shuffled copy of the batch is made. With `flat_optimizer` (see `tuning`), the loop carries the
parameters raveled into one vector, so that clipping and Adam are a handful of kernels per step
(the arithmetic is that of per-leaf Adam); they are raveled once per update and unraveled once
after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from purejaxppo.core.agent import Agent
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.hparams import HyperParams
from purejaxppo.core.loss import Batch, LossInfo, Objective, ppo_loss

ADAM_EPS = 1e-5
INFO_TREE = jax.tree.structure(LossInfo(*[0.0] * 6))  # a LossInfo with its grad_norm set


def make_optimizer(
    max_grad_norm: jax.Array | float, learning_rate: jax.Array | float
) -> optax.GradientTransformation:
    """Global-norm clipping then Adam (eps 1e-5).

    Built afresh at every step from traced values: the optimizer state's structure does not depend
    on them, so hyperparameters may change between updates (sweeps, population-based training).
    """
    return optax.chain(
        optax.clip_by_global_norm(max_grad_norm),
        optax.scale_by_adam(eps=ADAM_EPS),
        optax.scale_by_learning_rate(learning_rate),
    )


def permutation(key: jax.Array, n: int) -> jax.Array:
    """A uniformly random permutation of range(n), int32 [n].

    The method of `jax.random.permutation` (rounds of sorting by random keys, as many as make
    ties negligible by its own rule), but each round sorts a single uint32 array that holds the
    random key in its high bits and a position in its low bits. XLA:CPU sorts such an array
    with a fast path, several times faster than the key-value sort of `jax.random.permutation`
    (docs/benchmark-notes.md, "Where the time goes"). Ties go by position, so a later round
    shuffles the order the earlier ones left (tied by element, every round would restart from
    range(n)).
    """
    index_bits = max(1, (n - 1).bit_length())
    random_bits = 32 - index_bits
    if random_bits < 8:  # so many elements that the packed keys would tie too often
        return jax.random.permutation(key, n)
    rounds = math.ceil(3 * math.log(max(n, 2)) / math.log(2.0**random_bits))
    mask = jnp.uint32((1 << index_bits) - 1)
    position = jnp.arange(n, dtype=jnp.uint32)
    perm = position
    for round_key in jax.random.split(key, rounds):
        bits = jax.random.bits(round_key, (n,), jnp.uint32)
        order = jnp.sort((bits << index_bits) | position) & mask
        perm = order if perm is position else perm[order]
    return perm.astype(jnp.int32)


def init_optimizer_state(params: Any, flat: bool) -> optax.OptState:
    """Optimizer state for `params` (a pytree); with `flat`, for the raveled parameter vector."""
    return make_optimizer(1.0, 1.0).init(ravel_pytree(params)[0] if flat else params)


UpdateFn = Callable[
    [Any, optax.OptState, Batch, HyperParams, jax.Array],
    tuple[Any, optax.OptState, LossInfo],
]


def make_update(
    config: PPOConfig, agent: Agent, flat_optimizer: bool, objective: Objective | None = None
) -> UpdateFn:
    """Returns `update(params, opt_state, batch, hparams, key)`; `hparams` are those of this
    update (schedules applied: `schedules.at_update`).

    `batch` is what `agent.batch` made: leaves [batch_size, ...], or with `agent.sequences`
    [num_steps, num_envs, ...] (minibatches are then whole env sequences: a permutation of the
    envs). Returns the new params
    (same pytree as `params`) and optimizer state (made by `init_optimizer_state(params,
    flat_optimizer)`) and the `LossInfo` of every minibatch step, leaves
    [update_epochs, num_minibatches].
    """
    num_minibatches = config.num_minibatches
    num_steps = config.update_epochs * num_minibatches

    def minibatch_indices(key: jax.Array) -> jax.Array:
        """[epochs * minibatches, minibatch size]: each epoch a fresh permutation, in minibatch
        slices (of the batch rows; of the envs when the batch is sequences)."""
        rows = config.num_envs if agent.sequences else config.batch_size
        epoch_keys = jax.random.split(key, config.update_epochs)
        permutations = jax.vmap(lambda k: permutation(k, rows))(epoch_keys)
        return permutations.reshape((num_steps, rows // num_minibatches))

    def update(params, opt_state, batch: Batch, hparams: HyperParams, key):
        optimizer = make_optimizer(hparams.max_grad_norm, hparams.learning_rate)
        carried, unravel = ravel_pytree(params) if flat_optimizer else (params, lambda x: x)

        def loss(carried_params: Any, minibatch: Batch):
            return ppo_loss(
                unravel(carried_params), agent, minibatch, hparams, config.norm_adv,
                config.clip_vloss, objective,
            )  # fmt: skip

        grad_fn = jax.grad(loss, has_aux=True)

        def minibatch_step(carry, index: jax.Array):
            carried_params, opt_state = carry
            grads, info = grad_fn(carried_params, agent.take(batch, index))
            info = info.replace(grad_norm=optax.tree.norm(grads))
            updates, opt_state = optimizer.update(grads, opt_state, carried_params)
            # One stacked output instead of one per diagnostic: one write per step.
            return (optax.apply_updates(carried_params, updates), opt_state), jnp.stack(
                jax.tree.leaves(info)
            )

        (carried, opt_state), stacked = jax.lax.scan(
            minibatch_step, (carried, opt_state), minibatch_indices(key)
        )
        stacked = stacked.reshape((config.update_epochs, num_minibatches, -1))
        infos = jax.tree.unflatten(INFO_TREE, list(jnp.moveaxis(stacked, -1, 0)))
        return unravel(carried), opt_state, infos

    return update
