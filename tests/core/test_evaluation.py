"""Evaluation: whole episodes of trained policies, over runs, and its refusals."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import purejaxppo
from purejaxppo import ConfigError, PPOConfig
from purejaxppo.core.evaluation import evaluate
from purejaxppo.core.trainer import make_train_functions
from tests import probes
from tests.tiny import tiny_config

TINY = tiny_config(12)


def test_evaluate_refuses_normalized_observations_without_their_statistics():
    config = TINY.replace(env_id="Pendulum-v1", normalize_obs=True)
    params = make_train_functions(config).init_params(jax.random.key(0))
    with pytest.raises(ConfigError, match="obs_stats=None"):
        evaluate(config, params, num_episodes=1)


def test_evaluate_runs_whole_episodes():
    config = PPOConfig()
    functions = make_train_functions(config, probes.NeverEnding())
    params = functions.init_params(jax.random.key(0))
    result = evaluate(config, params, key=1, num_episodes=4, env=probes.NeverEnding())
    np.testing.assert_array_equal(result.lengths, [10, 10, 10, 10])  # cut by the time limit
    np.testing.assert_array_equal(result.returns, [10.0] * 4)


def test_evaluate_over_a_runs_axis_and_deterministic_mode(small_config):
    runs = purejaxppo.train(small_config, num_seeds=2, key=0)
    result = evaluate(small_config, runs.params, key=0, num_episodes=3, obs_stats=runs.obs_stats)
    assert result.returns.shape == (2, 3)
    assert np.all(result.lengths >= 8) and np.all(result.returns == result.lengths)  # CartPole
    again = evaluate(small_config, runs.params, key=5, num_episodes=3, obs_stats=runs.obs_stats)
    assert again.returns.shape == (2, 3)  # a deterministic policy: only resets differ
