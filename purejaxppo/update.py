"""The PPO update: update_epochs passes over a fresh permutation of the batch, in minibatches.

The epochs run on the parameters raveled into one vector: the gradient, global-norm clipping,
Adam and the parameter step are then a handful of kernels per minibatch instead of a few per
parameter leaf (10% faster updates for one CartPole run on a 2-core CPU; the arithmetic is the
same as per-leaf Adam). Parameters are raveled once per update and unraveled once after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from purejaxppo.config import HyperParams, PPOConfig
from purejaxppo.loss import Batch, LossInfo, ppo_loss
from purejaxppo.networks import ActorCritic, RecurrentActorCritic

ADAM_EPS = 1e-5


def make_optimizer(
    max_grad_norm: jax.Array | float, learning_rate: jax.Array | float
) -> optax.GradientTransformation:
    """Global-norm clipping then Adam (eps 1e-5), for the raveled parameter vector.

    Built afresh at every step from traced values: the optimizer state's structure does not depend
    on them, so hyperparameters may change between updates (sweeps, population-based training).
    """
    return optax.chain(
        optax.clip_by_global_norm(max_grad_norm),
        optax.scale_by_adam(eps=ADAM_EPS),
        optax.scale_by_learning_rate(learning_rate),
    )


def init_optimizer_state(params: Any) -> optax.OptState:
    """Optimizer state for `params` (a pytree); its leaves are vectors of the raveled size."""
    return make_optimizer(1.0, 1.0).init(ravel_pytree(params)[0])


UpdateFn = Callable[
    [Any, optax.OptState, Batch, HyperParams, jax.Array, jax.Array],
    tuple[Any, optax.OptState, LossInfo],
]


def make_update(config: PPOConfig, network: ActorCritic | RecurrentActorCritic) -> UpdateFn:
    """Returns `update(params, opt_state, batch, hparams, learning_rate, key)`.

    `batch` has leaves [batch_size, ...], or for a recurrent network [num_steps, num_envs, ...]
    (minibatches are then whole env sequences: a permutation of the envs). Returns the new params
    (same pytree as `params`) and optimizer state and the `LossInfo` of every minibatch step,
    leaves [update_epochs, num_minibatches].
    """
    num_minibatches = config.num_minibatches
    recurrent = isinstance(network, RecurrentActorCritic)

    def sequence_minibatches(batch: Batch, key: jax.Array) -> Batch:
        """[T, N, ...] -> [M, T, N/M, ...] (initial_hidden [N, H] -> [M, N/M, H]) by env."""
        permutation = jax.random.permutation(key, config.num_envs)

        def split(x: jax.Array, env_axis: int) -> jax.Array:
            x = jnp.take(x, permutation, axis=env_axis)
            x = x.reshape((*x.shape[:env_axis], num_minibatches, -1, *x.shape[env_axis + 1 :]))
            return jnp.moveaxis(x, env_axis, 0)

        hidden = split(batch.initial_hidden, 0)
        return jax.tree.map(lambda x: split(x, 1), batch.replace(initial_hidden=None)).replace(
            initial_hidden=hidden
        )

    def update(params, opt_state, batch: Batch, hparams: HyperParams, learning_rate, key):
        optimizer = make_optimizer(hparams.max_grad_norm, learning_rate)
        flat_params, unravel = ravel_pytree(params)

        def loss(flat: jax.Array, minibatch: Batch):
            return ppo_loss(
                unravel(flat), network, minibatch, hparams, config.norm_adv, config.clip_vloss
            )

        grad_fn = jax.grad(loss, has_aux=True)

        def minibatch_step(carry, minibatch: Batch):
            flat, opt_state = carry
            grads, info = grad_fn(flat, minibatch)
            updates, opt_state = optimizer.update(grads, opt_state, flat)
            return (flat + updates, opt_state), info

        def epoch(carry, epoch_key: jax.Array):
            if recurrent:
                minibatches = sequence_minibatches(batch, epoch_key)
            else:
                permutation = jax.random.permutation(epoch_key, config.batch_size)
                minibatches = jax.tree.map(
                    lambda x: x[permutation].reshape((num_minibatches, -1, *x.shape[1:])), batch
                )
            return jax.lax.scan(minibatch_step, carry, minibatches)

        (flat_params, opt_state), infos = jax.lax.scan(
            epoch, (flat_params, opt_state), jax.random.split(key, config.update_epochs)
        )
        return unravel(flat_params), opt_state, infos

    return update
