"""A learned drift for the policy objective: E[r A - drift(r, A; phi)] (Lu et al. 2022, "Discovered
Policy Optimisation"; the mirror-learning family of which PPO-clip is one member).

drift(r, A; phi) = relu(g(x) - g(x at r = 1)), g(x) = w2 . relu(W1 x + b1), on the features
    x = [(r - 1) A, |A|, r - 1, log r, (r - 1) |A|, A].
It is never negative and is zero at r = 1, so the objective there is the policy gradient's.
PPO-clip is the member with one hidden unit relu((r - 1) A - eps |A|) and output weight 1:
r A - relu((r - 1) A - eps |A|) = min(r A, clip(r, 1 - eps, 1 + eps) A) for every r > 0 and A.
`phi` is a traced input (a leaf of `HyperParams`), so sweeps, PBT and ES can vary it. The
advantage enters the drift as data only: its gradient flows through the ratio. Every function
takes log r, not r: log(exp(log r)) is -inf once exp underflows, and the drift would be NaN for
a policy that merely became very sure.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

NUM_FEATURES = 6


def features(log_ratio: jax.Array, advantage: jax.Array) -> jax.Array:
    """[..., NUM_FEATURES] drift inputs; the advantage is a constant of the objective."""
    advantage = jax.lax.stop_gradient(advantage)
    delta = jnp.exp(log_ratio) - 1.0
    magnitude = jnp.abs(advantage)
    return jnp.stack(
        [delta * advantage, magnitude, delta, log_ratio, delta * magnitude, advantage], axis=-1
    )


def _hidden_sum(phi: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    return jax.nn.relu(x @ phi["w1"] + phi["b1"]) @ phi["w2"]


def drift(phi: dict[str, jax.Array], log_ratio: jax.Array, advantage: jax.Array) -> jax.Array:
    """drift(r, A; phi) per sample, >= 0 and 0 at r = 1 (see the module docstring)."""
    at_one = features(jnp.zeros_like(log_ratio), advantage)
    current = _hidden_sum(phi, features(log_ratio, advantage))
    return jax.nn.relu(current - _hidden_sum(phi, at_one))


def drift_objective_terms(
    phi: dict[str, jax.Array], log_ratio: jax.Array, advantage: jax.Array
) -> jax.Array:
    """-(r A - drift(r, A; phi)) per sample [...]: the loss is their mean."""
    return drift(phi, log_ratio, advantage) - jnp.exp(log_ratio) * advantage


def drift_objective_loss(
    phi: dict[str, jax.Array], log_ratio: jax.Array, advantage: jax.Array
) -> jax.Array:
    """-E[r A - drift(r, A; phi)] over [B] samples (a loss, to be minimised)."""
    return jnp.mean(drift_objective_terms(phi, log_ratio, advantage))


def clip_drift_params(clip_eps: float, hidden: int) -> dict[str, np.ndarray]:
    """phi of PPO-clip's drift with range `clip_eps`: one active hidden unit, the others zero."""
    w1 = np.zeros((NUM_FEATURES, hidden), np.float32)
    w1[0, 0], w1[1, 0] = 1.0, -clip_eps
    w2 = np.zeros((hidden,), np.float32)
    w2[0] = 1.0
    return {"w1": w1, "b1": np.zeros((hidden,), np.float32), "w2": w2}
