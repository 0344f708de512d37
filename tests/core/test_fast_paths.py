"""The speed-motivated code paths compute what the plain ones do (no timing here)."""

from __future__ import annotations

import collections

import distrax
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from purejaxppo import PPOConfig, make_train
from purejaxppo.core.networks import ActorCritic
from purejaxppo.core.tuning import Tuning
from purejaxppo.core.update import permutation
from purejaxppo.envs.registry import auto_reset_step, make_batched_step


@pytest.mark.parametrize(
    "env_id", ["CartPole-v1", "Pendulum-v1", "Catch-bsuite", "Asterix-MinAtar"]
)
def test_auto_reset_step_equals_gymnax_step(env_id):
    env, params = gymnax.make(env_id)
    ours = jax.jit(lambda k, s, a: auto_reset_step(env, *jax.random.split(k), s, a, params))
    reference = jax.jit(lambda k, s, a: env.step(k, s, a, params))
    space = env.action_space(params)
    _, state = env.reset(jax.random.key(0), params)
    resets = 0
    for i in range(300):
        key = jax.random.fold_in(jax.random.key(1), i)
        action = space.sample(jax.random.fold_in(key, 7))
        expected, got = reference(key, state, action), ours(key, state, action)
        for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        resets += int(expected[3] | expected[4])
        state = expected[1]
    assert resets > 0  # the auto-reset branch was exercised


def test_batched_step_keeps_a_wrappers_own_step():
    env, params = gymnax.make("DeepSea-bsuite")  # overrides Environment.step
    batched = make_batched_step(env, params, num_steps=3, num_envs=2)
    assert batched.keys(jax.random.key(0)).shape == (3, 2)
    reset = jax.vmap(env.reset, in_axes=(0, None))
    _, states = reset(jax.random.split(jax.random.key(0), 2), params)
    obs, *_ = batched.step(batched.keys(jax.random.key(1))[0], states, jnp.zeros(2, jnp.int32))
    assert obs.shape[0] == 2


def test_permutation_is_a_uniform_permutation():
    for n in (1, 2, 5, 512, 1000, 70_000):
        p = np.asarray(jax.jit(permutation, static_argnums=1)(jax.random.key(n), n))
        np.testing.assert_array_equal(np.sort(p), np.arange(n))
    keys = jax.random.split(jax.random.key(0), 48_000)
    draws = jax.jit(jax.vmap(lambda k: permutation(k, 4)))(keys)
    counts = collections.Counter(map(tuple, np.asarray(draws).tolist()))
    assert len(counts) == 24
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3
    same = permutation(jax.random.key(3), 100), permutation(jax.random.key(3), 100)
    np.testing.assert_array_equal(*same)


def test_permutation_ties_keep_the_order_of_the_earlier_rounds(monkeypatch):
    # A tie in a later round must keep the (random) order the earlier rounds left, or the later
    # rounds undo nothing of the first round's ties. Here round 2 (of 2 at n = 512) ties
    # everywhere: the result must be round 1's permutation, not range(n).
    real, calls = jax.random.bits, []

    def second_round_ties(key, shape, dtype):
        calls.append(shape)
        drawn = real(key, shape, dtype)
        return drawn if len(calls) == 1 else jnp.zeros_like(drawn)

    monkeypatch.setattr(jax.random, "bits", second_round_ties)
    p = np.asarray(permutation(jax.random.key(0), 512))
    assert len(calls) == 2
    np.testing.assert_array_equal(np.sort(p), np.arange(512))
    assert (p != np.arange(512)).any()


def test_sampling_from_noise_has_the_policys_distribution():
    discrete = ActorCritic(obs_shape=(1,), discrete=True, num_actions=2)
    policy = distrax.Categorical(logits=jnp.log(jnp.array([[0.25, 0.75]])))
    noise = discrete.sampling_noise(jax.random.key(0), (20_000, 1))
    actions = np.asarray(discrete.sample_with_noise(policy, noise))
    assert abs(actions.mean() - 0.75) < 0.015
    continuous = ActorCritic(obs_shape=(1,), discrete=False, num_actions=2)
    gaussian = distrax.MultivariateNormalDiag(jnp.array([1.0, -2.0]), jnp.array([0.5, 2.0]))
    noise = continuous.sampling_noise(jax.random.key(1), (20_000,))
    samples = np.asarray(continuous.sample_with_noise(gaussian, noise))
    np.testing.assert_allclose(samples.mean(0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(samples.std(0), [0.5, 2.0], rtol=0.03)


def test_flat_and_per_leaf_optimizers_train_alike():
    config = PPOConfig(num_envs=4, num_steps=32, total_timesteps=4 * 32 * 6, num_minibatches=2)
    runs = [
        jax.jit(make_train(config, tuning=Tuning(gae_unroll=unroll, flat_optimizer=flat)))(
            jax.random.key(0), config.hparams
        )
        for unroll, flat in ((1, True), (16, False))
    ]
    for a, b in zip(jax.tree.leaves(runs[0].params), jax.tree.leaves(runs[1].params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        runs[0].metrics["policy_loss"], runs[1].metrics["policy_loss"], rtol=1e-3, atol=1e-5
    )
