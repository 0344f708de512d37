"""The PPO objective: clipped surrogate (or a learned drift), value loss and entropy bonus."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import distrax
import jax
import jax.numpy as jnp
from flax import struct

from purejaxppo.base.errors import ConfigError
from purejaxppo.core.drift import drift_objective_terms
from purejaxppo.core.hparams import HyperParams


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


class Evaluates(Protocol):
    """What the loss needs of the network (`agent.FeedForward` and `agent.Recurrent` have it)."""

    def evaluate(self, params: Any, batch: Batch) -> tuple[distrax.Distribution, jax.Array]:
        """The current policy and values on the batch's observations."""
        ...


@struct.dataclass
class LossInfo:
    """Scalar diagnostics of one loss evaluation."""

    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array  # k3 estimator: E[(r - 1) - log r], r = pi_new / pi_old
    clip_fraction: jax.Array  # share of samples with |r - 1| > clip_eps
    grad_norm: jax.Array | None = None  # global norm of the gradient (set by the update)


def clipped_surrogate_terms(
    ratio: jax.Array, advantage: jax.Array, clip_eps: jax.Array
) -> jax.Array:
    """-min(r A, clip(r, 1 - eps, 1 + eps) A) per sample [...]: the loss is their mean."""
    unclipped = ratio * advantage
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantage
    return -jnp.minimum(unclipped, clipped)


def clipped_surrogate(ratio: jax.Array, advantage: jax.Array, clip_eps: jax.Array) -> jax.Array:
    """-E[min(r A, clip(r, 1 - eps, 1 + eps) A)] over [B] samples (a loss, to be minimised)."""
    return jnp.mean(clipped_surrogate_terms(ratio, advantage, clip_eps))


def value_loss_terms(
    value: jax.Array, old_value: jax.Array, target: jax.Array, clip_eps: jax.Array, clip: bool
) -> jax.Array:
    """0.5 (V - target)^2 per sample [...]; with `clip`, the max with that of V clipped to
    old +- eps. The value loss is their mean."""
    squared = (value - target) ** 2
    if clip:
        clipped_value = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
        squared = jnp.maximum(squared, (clipped_value - target) ** 2)
    return 0.5 * squared


def value_loss(
    value: jax.Array, old_value: jax.Array, target: jax.Array, clip_eps: jax.Array, clip: bool
) -> jax.Array:
    """0.5 * E[(V - target)^2]; with `clip`, the max with the loss of V clipped to old +- eps."""
    return jnp.mean(value_loss_terms(value, old_value, target, clip_eps, clip))


# An objective of yours: (log r [...], advantages [...], the traced hyperparameters) -> the
# surrogate per sample, to maximise. The loss adds our value loss and entropy bonus.
Objective = Callable[[jax.Array, jax.Array, HyperParams], jax.Array]


def clip_objective(log_ratio: jax.Array, advantage: jax.Array, hparams: HyperParams) -> jax.Array:
    """PPO's clipped surrogate as an `Objective`: min(r A, clip(r, 1 - eps, 1 + eps) A)."""
    return -clipped_surrogate_terms(jnp.exp(log_ratio), advantage, hparams.clip_eps)


def drift_objective(log_ratio: jax.Array, advantage: jax.Array, hparams: HyperParams) -> jax.Array:
    """The learned drift as an `Objective`: r A - drift(r, A; phi), phi = `hparams.drift`."""
    return -drift_objective_terms(hparams.drift, log_ratio, advantage)


def check_objective(objective: Objective, hparams: HyperParams, batch: int = 4) -> None:
    """Raise ConfigError unless `objective` maps [batch] samples to [batch] floats."""
    samples = jnp.zeros((batch,), jnp.float32)
    name = getattr(objective, "__qualname__", repr(objective))
    try:
        out = jax.eval_shape(objective, samples, samples, hparams)
    except Exception as error:
        raise ConfigError(
            f"objective={name}: could not run on log-ratios and advantages of shape ({batch},) "
            f"({type(error).__name__}: {error}). Fix: f(log_ratio, advantages, hparams) -> "
            "the surrogate per sample."
        ) from error
    if getattr(out, "shape", None) != (batch,) or not jnp.issubdtype(out.dtype, jnp.floating):
        raise ConfigError(
            f"objective={name}: returned {out!r} for {batch} samples. Fix: return the surrogate "
            f"per sample, float [{batch}] (the loss takes minus its mean)."
        )


def normalize_advantage(advantage: jax.Array) -> jax.Array:
    return (advantage - advantage.mean()) / (advantage.std() + 1e-8)


def ppo_loss(
    params: Any,
    agent: Evaluates,
    batch: Batch,
    hparams: HyperParams,
    norm_adv: bool,
    clip_vloss: bool,
    objective: Objective | None = None,
) -> tuple[jax.Array, LossInfo]:
    """policy_loss + vf_coef * value_loss - ent_coef * entropy, and its diagnostics. The policy
    loss is minus the mean of `objective` (by default the config's: `clip_objective`, or
    `drift_objective` when hparams carry a drift)."""
    policy, value = agent.evaluate(params, batch)
    log_prob = policy.log_prob(batch.action)
    log_ratio = log_prob - batch.log_prob
    ratio = jnp.exp(log_ratio)
    advantage = normalize_advantage(batch.advantage) if norm_adv else batch.advantage

    if objective is not None:
        policy_terms = -objective(log_ratio, advantage, hparams)
    elif hparams.drift is None:  # written out (not clip_objective) so that r is computed once
        policy_terms = clipped_surrogate_terms(ratio, advantage, hparams.clip_eps)
    else:
        policy_terms = drift_objective_terms(hparams.drift, log_ratio, advantage)
    value_terms = value_loss_terms(value, batch.value, batch.target, hparams.clip_eps, clip_vloss)
    approx_kl_terms = (ratio - 1.0) - log_ratio  # k3 estimator
    clipped = (jnp.abs(ratio - 1.0) > hparams.clip_eps).astype(jnp.float32)
    # The five means as one reduction over the samples: taken one by one, each is its own
    # reduction kernels at every minibatch step (a launch each on a GPU; docs/benchmark-notes.md).
    terms = jnp.stack(
        [
            policy_terms,
            value_terms,
            policy.entropy(),
            jax.lax.stop_gradient(approx_kl_terms),
            jax.lax.stop_gradient(clipped),
        ],
        axis=-1,
    )
    policy_loss, v_loss, entropy, approx_kl, clip_fraction = jnp.mean(
        terms.reshape((-1, terms.shape[-1])), axis=0
    )
    total = policy_loss + hparams.vf_coef * v_loss - hparams.ent_coef * entropy
    info = LossInfo(policy_loss, v_loss, entropy, approx_kl, clip_fraction)
    return total, info
