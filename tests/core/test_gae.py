"""compute_gae against a float64 NumPy loop, and the truncation convention on a worked example."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from purejaxppo import compute_gae


def gae_reference(rewards, values, next_values, terminated, done, gamma, lam):
    """DESIGN.md's recursion, one step at a time, in float64."""
    advantages = np.zeros_like(values, dtype=np.float64)
    next_advantage = np.zeros(values.shape[1:], np.float64)
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * (1.0 - terminated[t]) * next_values[t] - values[t]
        next_advantage = delta + gamma * lam * (1.0 - done[t]) * next_advantage
        advantages[t] = next_advantage
    return advantages, advantages + values


def random_rollout(seed: int, steps: int = 64, envs: int = 5):
    rng = np.random.default_rng(seed)
    terminated = rng.random((steps, envs)) < 0.1
    truncated = rng.random((steps, envs)) < 0.1
    return (
        rng.normal(size=(steps, envs)),
        rng.normal(size=(steps, envs)),
        rng.normal(size=(steps, envs)),
        terminated.astype(np.float64),
        (terminated | truncated).astype(np.float64),
    )


@pytest.mark.parametrize(
    ("gamma", "lam"), list(itertools.product([0.0, 0.9, 0.99, 1.0], [0.0, 0.95, 1.0]))
)
def test_matches_float64_reference(gamma, lam):
    rewards, values, next_values, terminated, done = random_rollout(
        seed=int(gamma * 100 + lam * 10)
    )
    assert terminated.any() and (done > terminated).any()  # both kinds of episode end occur
    want_adv, want_target = gae_reference(
        rewards, values, next_values, terminated, done, gamma, lam
    )
    as32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    adv, target = compute_gae(
        as32(rewards),
        as32(values),
        as32(next_values),
        terminated.astype(bool),
        done.astype(bool),
        gamma,
        lam,
    )
    np.testing.assert_allclose(adv, want_adv, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(target, want_target, rtol=1e-5, atol=1e-4)


def test_truncation_bootstraps_termination_does_not_and_nothing_leaks():
    # One env, four steps: step 1 is truncated (bootstrap from V(final obs) = 10), step 3 is
    # terminated (no bootstrap). gamma = 0.5, lambda = 1.
    rewards = jnp.array([[1.0], [1.0], [1.0], [1.0]])
    values = jnp.array([[0.0], [0.0], [100.0], [0.0]])
    next_values = jnp.array([[0.0], [10.0], [0.0], [50.0]])
    terminated = jnp.array([[False], [False], [False], [True]])
    done = jnp.array([[False], [True], [False], [True]])
    adv, _ = compute_gae(rewards, values, next_values, terminated, done, 0.5, 1.0)
    # t=3: terminal, no bootstrap: 1 - 0 = 1.
    # t=2: 1 + 0.5 * 0 - 100 + 0.5 * 1 = -98.5.
    # t=1: truncated: 1 + 0.5 * 10 - 0 = 6; the next episode's advantage (-98.5) does not leak.
    # t=0: 1 + 0.5 * 0 - 0 + 0.5 * 6 = 4.
    np.testing.assert_allclose(adv[:, 0], [4.0, 6.0, -98.5, 1.0])


def test_batch_axes_are_independent():
    rewards, values, next_values, terminated, done = random_rollout(seed=7, envs=3)
    args = [jnp.asarray(x, jnp.float32) for x in (rewards, values, next_values)]
    flags = [terminated.astype(bool), done.astype(bool)]
    adv_all, _ = compute_gae(*args, *flags, 0.99, 0.95)
    adv_one, _ = compute_gae(*(a[:, 1:2] for a in args), *(f[:, 1:2] for f in flags), 0.99, 0.95)
    np.testing.assert_array_equal(adv_all[:, 1:2], adv_one)


def test_a_nan_value_after_a_termination_does_not_leak():
    # V(final observation) of a blown-up simulation is NaN; a terminated step must ignore it.
    rewards = jnp.ones((4,))
    values = jnp.zeros((4,))
    next_values = jnp.array([0.5, jnp.nan, 0.5, 0.5])
    terminated = jnp.array([False, True, False, False])
    advantages, targets = compute_gae(
        rewards, values, next_values, terminated, terminated, 0.9, 0.8
    )
    clean, _ = compute_gae(
        rewards, values, next_values.at[1].set(0.0), terminated, terminated, 0.9, 0.8
    )
    np.testing.assert_array_equal(advantages, clean)
    assert np.isfinite(targets).all()
