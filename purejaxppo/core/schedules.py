"""Hyperparameters at a point of training: the schedules (traced knots) applied to their fields."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from purejaxppo.core.hparams import SCHEDULED, HyperParams


def multiplier(knots: jax.Array, progress: jax.Array) -> jax.Array:
    """Piecewise-linear through `knots` [K] at progress 0, 1/(K-1), ..., 1 (fraction of training
    done), evaluated at `progress`."""
    positions = jnp.linspace(0.0, 1.0, knots.shape[-1])
    return jnp.interp(progress, positions, knots)


def at_update(
    hparams: HyperParams, update_index: jax.Array, num_updates: int, anneal_lr: bool
) -> HyperParams:
    """`hparams` as used by update `update_index` (0-based) of `num_updates`: each scheduled field
    times its schedule at progress update_index / num_updates; without a learning-rate schedule,
    `anneal_lr` decays the learning rate linearly to 0 (optax, as before schedules existed)."""
    progress = update_index.astype(jnp.float32) / num_updates
    changes = {}
    for name in SCHEDULED:
        knots = getattr(hparams, f"{name}_schedule")
        if knots is not None:
            changes[name] = getattr(hparams, name) * multiplier(knots, progress)
    if hparams.learning_rate_schedule is None and anneal_lr:
        changes["learning_rate"] = optax.linear_schedule(hparams.learning_rate, 0.0, num_updates)(
            update_index
        )
    return hparams.replace(**changes)
