"""Observation statistics and reward scaling: exact counts, weights, what the rollout feeds them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import purejaxppo
from purejaxppo.core.normalization import RunningMeanStd
from purejaxppo.core.trainer import make_train_functions
from tests import probes
from tests.tiny import tiny_config

TINY = tiny_config(12)


def test_running_statistics_count_exactly_past_2_to_the_24():
    stats = RunningMeanStd.create(()).replace(count=jnp.uint32(2**24))
    for _ in range(10):  # a float32 count would stay at 2**24: 2**24 + 1 rounds back to it
        stats = stats.update(jnp.ones((1,)))
    assert int(stats.count) == 2**24 + 10
    np.testing.assert_allclose(float(stats.mean), 10 / (2**24 + 10), rtol=1e-3)


def test_running_statistics_match_numpy_with_weights():
    rng = np.random.default_rng(0)
    data = [rng.normal(3.0, 2.0, (7, 2)).astype(np.float32) for _ in range(5)]
    keep = [rng.random(7) < 0.6 for _ in range(5)]
    keep = [k | (np.arange(7) == 0) for k in keep]  # at least one row each
    stats = RunningMeanStd.create((2,))
    for batch, mask in zip(data, keep, strict=True):
        stats = stats.update(jnp.asarray(batch), jnp.asarray(mask))
    seen = np.concatenate([b[m] for b, m in zip(data, keep, strict=True)])
    np.testing.assert_allclose(stats.mean, seen.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.var, seen.var(0), rtol=1e-4)
    assert int(stats.count) == len(seen)


def test_final_observations_enter_the_observation_statistics():
    # TwoStep shows 0, then 1; its last observation (1) is only ever a final observation, so the
    # statistics average to 2/3 with it and 1/2 without it.
    config = TINY.replace(normalize_obs=True)
    train = jax.jit(purejaxppo.make_train(config, probes.TwoStep()))
    result = train(jax.random.key(0), config.hparams)
    np.testing.assert_allclose(float(result.obs_stats.mean[0]), 2 / 3, atol=0.01)


def test_the_rollout_normalises_the_carried_raw_observation_with_the_current_statistics():
    config = TINY.replace(env_id="Pendulum-v1", normalize_obs=True)
    functions = make_train_functions(config)
    state = functions.init(jax.random.key(0))
    stats = state.env_loop.obs_stats.replace(mean=jnp.array([1.0, 2.0, 3.0]))
    env_loop = state.env_loop.replace(obs_stats=stats)
    _, traj, _ = functions.rollout(state.params, env_loop, jax.random.key(1), 0.99)
    np.testing.assert_allclose(traj.obs[0], stats.normalize(env_loop.obs), rtol=1e-6)


def test_a_nan_terminal_observation_is_counted_not_learned():
    # Every episode ends on a NaN observation and reward. Training stays finite, every such
    # step is counted, and the observation statistics see only the finite observations 0 and 1.
    config = TINY.replace(normalize_obs=True)
    train = jax.jit(purejaxppo.make_train(config, probes.BlowsUp()))
    result = train(jax.random.key(0), config.hparams)
    for name in ("policy_loss", "value_loss", "grad_norm", "episode_return"):
        assert np.isfinite(result.metrics[name]).all(), name
    assert (result.metrics["nonfinite"] == 0).all()
    per_update = config.num_envs * config.num_steps // 2  # one episode every two steps
    np.testing.assert_array_equal(result.metrics["nonfinite_env_steps"], per_update)
    np.testing.assert_allclose(float(result.obs_stats.mean[0]), 0.5, atol=0.01)
    np.testing.assert_allclose(result.metrics["episode_return"], 1.0)


def test_running_statistics_ignore_left_out_rows_whatever_they_hold():
    stats = RunningMeanStd.create((1,)).update(jnp.array([[1.0], [3.0]]))
    kept = stats.update(jnp.array([[jnp.nan], [jnp.inf]]), jnp.array([False, False]))
    assert kept == stats
    mixed = stats.update(jnp.array([[jnp.nan], [5.0]]), jnp.array([False, True]))
    np.testing.assert_allclose(mixed.mean, [3.0])
