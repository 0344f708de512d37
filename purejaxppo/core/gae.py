"""Generalised advantage estimation that keeps time-limit truncation apart from termination."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def compute_gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    gamma: jax.Array | float,
    gae_lambda: jax.Array | float,
    unroll: int = 1,
) -> tuple[jax.Array, jax.Array]:
    """Advantages and value targets for time-major arrays of shape [T, ...].

    `next_values[t]` is V of the true next observation of transition t (the pre-reset final
    observation when the episode ended there). `terminated[t]` marks a true terminal state: no
    bootstrap. `done[t]` = terminated or truncated: the advantage recursion stops there, so a
    time-limit truncation still bootstraps from V(final observation) but nothing leaks into the
    next episode.

        delta_t  = r_t + gamma * (0 if terminated_t else next_values_t) - values_t
        A_t      = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
        target_t = A_t + values_t

    `unroll` iterations of the backward scan run per loop step (a speed choice, see `tuning`).
    Returns (advantages, targets), both shaped like `values`.
    """
    chex.assert_equal_shape([rewards, values, next_values, terminated, done])
    dtype = values.dtype
    # A select, not a product with (1 - terminated): 0 * NaN is NaN, and a simulation that blew
    # up and terminated would otherwise send NaN back through every earlier advantage.
    deltas = rewards + gamma * jnp.where(terminated, 0.0, next_values) - values
    decay = gamma * gae_lambda * (1.0 - done.astype(dtype))

    def backward(next_advantage: jax.Array, step: tuple[jax.Array, jax.Array]):
        delta, step_decay = step
        advantage = delta + step_decay * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward,
        jnp.zeros_like(values[0]),
        (deltas, decay.astype(dtype)),
        reverse=True,
        unroll=unroll,
    )
    return advantages, advantages + values
