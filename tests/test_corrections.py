"""Corrections found in a code audit, each pinned by a test."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import purejaxppo
from purejaxppo import ConfigError
from purejaxppo.core.evaluation import evaluate
from purejaxppo.core.normalization import RunningMeanStd
from purejaxppo.core.trainer import make_train_functions
from purejaxppo.search.pbt import exploit_and_explore
from purejaxppo.search.space import Range
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


def test_evaluate_refuses_normalized_observations_without_their_statistics():
    config = TINY.replace(env_id="Pendulum-v1", normalize_obs=True)
    params = make_train_functions(config).init_params(jax.random.key(0))
    with pytest.raises(ConfigError, match="obs_stats=None"):
        evaluate(config, params, num_episodes=1)


def test_checkpoint_every_must_be_whole_segments(tmp_path):
    with pytest.raises(ConfigError, match="checkpoint_every=7"):
        purejaxppo.train(TINY, checkpoint_dir=tmp_path, segment_updates=5, checkpoint_every=7)
    assert not any(tmp_path.iterdir())  # refused before anything was written
    # A checkpoint interval past the end of a short run means none before the end, as the
    # command line's defaults (every 500 updates) give for any run under 500 updates.
    short = purejaxppo.train(TINY, checkpoint_dir=tmp_path / "short", checkpoint_every=500)
    assert short.metrics["nonfinite"].shape[1] == TINY.num_updates


def test_runs_without_a_final_episode_are_counted_not_dropped():
    # Episodes of NeverEnding last 1000 steps: none finishes in 12 updates of 32 steps.
    env = probes.NeverEnding()
    env.max_steps = 1000
    result = purejaxppo.train(TINY, num_seeds=3, env=env)
    assert result.summary()["runs_without_final_episode"] == 3
    assert result.final_return.num_runs == 0 and np.isnan(result.final_return.mean)


def _tag(tree, population):
    return jax.tree.map(
        lambda x: (
            x * 0 + jnp.arange(population).reshape((population,) + (1,) * (x.ndim - 1))
        ).astype(x.dtype),
        tree,
    )


def test_exploit_keeps_raw_observations_and_resets_the_gru():
    config = TINY.replace(network="gru", gru_size=8, normalize_obs=True)
    functions = make_train_functions(config)
    states = jax.vmap(functions.init)(jax.random.split(jax.random.key(0), 4))
    states = states.replace(env_loop=states.env_loop.replace(
        obs_stats=_tag(states.env_loop.obs_stats, 4),
        recurrent=states.env_loop.recurrent.replace(
            start=jnp.zeros_like(states.env_loop.recurrent.start)
        ),
    ))  # fmt: skip
    hparams = jax.tree.map(lambda x: jnp.full((4,), x), config.hparams)
    fitness = jnp.array([3.0, 1.0, 2.0, 5.0])  # member 1 copies member 3
    new, _, parents = exploit_and_explore(
        jax.random.key(1), states, hparams, fitness, {"learning_rate": Range(1e-4, 1e-3)}
    )
    np.testing.assert_array_equal(parents, [0, 3, 2, 3])
    # The copying member keeps its own env and raw observation; the donor's statistics will
    # normalise it from the next step on.
    np.testing.assert_array_equal(new.env_loop.obs, states.env_loop.obs)
    np.testing.assert_array_equal(new.env_loop.obs_stats.mean[1], states.env_loop.obs_stats.mean[3])
    # Its GRU state came from other parameters: it restarts at the next step.
    np.testing.assert_array_equal(new.env_loop.recurrent.start[:, 0], [False, True, False, False])


def test_the_rollout_normalises_the_carried_raw_observation_with_the_current_statistics():
    config = TINY.replace(env_id="Pendulum-v1", normalize_obs=True)
    functions = make_train_functions(config)
    state = functions.init(jax.random.key(0))
    stats = state.env_loop.obs_stats.replace(mean=jnp.array([1.0, 2.0, 3.0]))
    env_loop = state.env_loop.replace(obs_stats=stats)
    _, traj, _ = functions.rollout(state.params, env_loop, jax.random.key(1), 0.99)
    np.testing.assert_allclose(traj.obs[0], stats.normalize(env_loop.obs), rtol=1e-6)


def test_a_diverged_member_ranks_last_in_pbt():
    from purejaxppo.search.pbt import generation_fitness

    metrics = {
        "episode_return": jnp.array([[10.0, 20.0], [50.0, 60.0], [1.0, 2.0]]),
        "episodes_finished": jnp.array([[1, 1], [1, 1], [1, 1]]),
        "nonfinite": jnp.array([[0, 0], [0, 1], [0, 0]]),  # member 1 diverged in its last update
    }
    fitness = np.asarray(generation_fitness(metrics))
    np.testing.assert_allclose(fitness[[0, 2]], [15.0, 1.5])
    assert np.isnan(fitness[1])  # ranked below every finite fitness by exploit_and_explore


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
