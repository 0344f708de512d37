"""The clipped objective against hand-computed values; ratio 1 and KL 0 before the first step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.core.loss import clipped_surrogate, value_loss


def test_clipped_surrogate_by_hand():
    ratio = jnp.array([0.5, 1.0, 1.5, 0.5])
    advantage = jnp.array([1.0, -1.0, 2.0, -1.0])
    # min(r A, clip(r, 0.8, 1.2) A) per sample:
    # min(0.5, 0.8) = 0.5; -1; min(3, 2.4) = 2.4; min(-0.5, -0.8) = -0.8
    want = -(0.5 - 1.0 + 2.4 - 0.8) / 4
    np.testing.assert_allclose(clipped_surrogate(ratio, advantage, 0.2), want, rtol=1e-6)


def test_clipped_surrogate_has_no_gradient_outside_the_trust_region():
    grad = jax.grad(lambda r: clipped_surrogate(r, jnp.array([1.0, -1.0]), 0.2))(
        jnp.array([1.5, 0.5])
    )
    np.testing.assert_array_equal(grad, [0.0, 0.0])


def test_value_loss_by_hand():
    value = jnp.array([1.0, 0.0])
    old_value = jnp.array([0.5, 1.0])
    target = jnp.array([0.0, 0.0])
    # unclipped squared errors: 1, 0.
    # clipped values: 0.5 + 0.2 = 0.7 -> 0.49; 1 - 0.2 = 0.8 -> 0.64.
    np.testing.assert_allclose(value_loss(value, old_value, target, 0.2, clip=False), 0.25)
    np.testing.assert_allclose(
        value_loss(value, old_value, target, 0.2, clip=True), 0.5 * (1.0 + 0.64) / 2
    )
