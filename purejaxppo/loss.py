"""The PPO objective: clipped surrogate (or a learned drift), value loss and entropy bonus."""

from __future__ import annotations

from typing import Any

import distrax
import jax
import jax.numpy as jnp
from flax import struct

from purejaxppo.drift import drift_objective_loss
from purejaxppo.hparams import HyperParams
from purejaxppo.networks import ActorCritic, RecurrentActorCritic, unroll


@struct.dataclass
class Batch:
    """Training samples. Feed-forward networks: flat, every field has leading axis [B].
    Recurrent networks: whole env sequences, leading axes [T, B], plus `start` and
    `initial_hidden` to replay the GRU over them."""

    obs: jax.Array  # [B, *obs_shape]
    action: jax.Array  # [B] or [B, A]
    log_prob: jax.Array  # [B] behaviour-policy log-probabilities
    value: jax.Array  # [B] values at collection time
    advantage: jax.Array  # [B]
    target: jax.Array  # [B] value targets (advantage + value)
    start: jax.Array | None = None  # [T, B] bool: the step began an episode
    initial_hidden: jax.Array | None = None  # [B, H]: GRU state entering step 0


def evaluate_batch(
    params: Any, network: ActorCritic | RecurrentActorCritic, batch: Batch
) -> tuple[distrax.Distribution, jax.Array]:
    """The current policy and values on the batch's observations (replaying the GRU if any)."""
    if isinstance(network, RecurrentActorCritic):
        hidden = unroll(network, params, batch.initial_hidden, batch.obs, batch.start)
        return network.apply(params, hidden, batch.obs, method=RecurrentActorCritic.heads)
    return network.apply(params, batch.obs)


@struct.dataclass
class LossInfo:
    """Scalar diagnostics of one loss evaluation."""

    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array  # k3 estimator: E[(r - 1) - log r], r = pi_new / pi_old
    clip_fraction: jax.Array  # share of samples with |r - 1| > clip_eps
    grad_norm: jax.Array | None = None  # global norm of the gradient (set by the update)


def clipped_surrogate(ratio: jax.Array, advantage: jax.Array, clip_eps: jax.Array) -> jax.Array:
    """-E[min(r A, clip(r, 1 - eps, 1 + eps) A)] over [B] samples (a loss, to be minimised)."""
    unclipped = ratio * advantage
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantage
    return -jnp.mean(jnp.minimum(unclipped, clipped))


def value_loss(
    value: jax.Array, old_value: jax.Array, target: jax.Array, clip_eps: jax.Array, clip: bool
) -> jax.Array:
    """0.5 * E[(V - target)^2]; with `clip`, the max with the loss of V clipped to old +- eps."""
    squared = (value - target) ** 2
    if not clip:
        return 0.5 * jnp.mean(squared)
    clipped_value = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
    return 0.5 * jnp.mean(jnp.maximum(squared, (clipped_value - target) ** 2))


def normalize_advantage(advantage: jax.Array) -> jax.Array:
    return (advantage - advantage.mean()) / (advantage.std() + 1e-8)


def ppo_loss(
    params: Any,
    network: ActorCritic | RecurrentActorCritic,
    batch: Batch,
    hparams: HyperParams,
    norm_adv: bool,
    clip_vloss: bool,
) -> tuple[jax.Array, LossInfo]:
    """policy_loss + vf_coef * value_loss - ent_coef * entropy, and its diagnostics."""
    policy, value = evaluate_batch(params, network, batch)
    log_prob = policy.log_prob(batch.action)
    log_ratio = log_prob - batch.log_prob
    ratio = jnp.exp(log_ratio)
    advantage = normalize_advantage(batch.advantage) if norm_adv else batch.advantage

    if hparams.drift is None:
        policy_loss = clipped_surrogate(ratio, advantage, hparams.clip_eps)
    else:
        policy_loss = drift_objective_loss(hparams.drift, ratio, advantage)
    v_loss = value_loss(value, batch.value, batch.target, hparams.clip_eps, clip_vloss)
    entropy = jnp.mean(policy.entropy())
    total = policy_loss + hparams.vf_coef * v_loss - hparams.ent_coef * entropy

    info = LossInfo(
        policy_loss=policy_loss,
        value_loss=v_loss,
        entropy=entropy,
        approx_kl=jax.lax.stop_gradient(jnp.mean((ratio - 1.0) - log_ratio)),
        clip_fraction=jax.lax.stop_gradient(
            jnp.mean((jnp.abs(ratio - 1.0) > hparams.clip_eps).astype(jnp.float32))
        ),
    )
    return total, info
