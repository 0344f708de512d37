"""Sweeps: grid and random settings, bad spaces, and the per-setting table."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import purejaxppo
from purejaxppo import ConfigError
from purejaxppo.search.space import Range, sample_settings
from purejaxppo.search.sweep import sweep


@pytest.mark.slow
# ------------------------------------------------------------------------------------ sweeps
def test_grid_order_and_shape(small_config):
    settings = sample_settings(
        small_config, {"learning_rate": [1e-4, 1e-3], "ent_coef": [0.0, 0.01, 0.02]}
    )
    assert len(settings) == 6
    assert [s["learning_rate"] for s in settings] == [1e-4] * 3 + [1e-3] * 3  # first key slowest
    assert [s["ent_coef"] for s in settings[:3]] == [0.0, 0.01, 0.02]


@pytest.mark.slow
def test_random_sampling_is_in_range_log_uniform_and_reproducible(small_config):
    space = {"learning_rate": Range(1e-5, 1e-2), "gamma": Range(0.9, 0.999), "vf_coef": [0.5, 1.0]}
    a = sample_settings(small_config, space, "random", 400, key=jax.random.key(1))
    b = sample_settings(small_config, space, "random", 400, key=jax.random.key(1))
    c = sample_settings(small_config, space, "random", 400, key=jax.random.key(2))
    assert a == b and a != c
    lr = np.array([s["learning_rate"] for s in a])
    gamma = np.array([s["gamma"] for s in a])
    assert lr.min() >= 1e-5 and lr.max() <= 1e-2 and gamma.min() >= 0.9 and gamma.max() <= 0.999
    # log-uniform: about a third of the samples in each decade
    assert 0.2 < np.mean(lr < 1e-4) < 0.45 and 0.2 < np.mean(lr > 1e-3) < 0.45
    assert set(s["vf_coef"] for s in a) == {0.5, 1.0}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("space", "mode", "message"),
    [
        ({"num_envs": [4, 8]}, "grid", "'num_envs' is a static field"),
        ({"bogus": [1.0]}, "grid", "'bogus' is not a hyperparameter"),
        ({"learning_rate": Range(1e-4, 1e-3)}, "grid", "a grid cannot enumerate"),
        ({"learning_rate": Range(0.0, 1e-3)}, "random", "low > 0 for a log range"),
        ({"gamma": [0.9, 1.5]}, "grid", "PPOConfig.gamma=1.5"),
        ({"learning_rate": []}, "grid", "non-empty list"),
    ],
)
def test_bad_sweep_space_is_rejected(small_config, space, mode, message):
    with pytest.raises(ConfigError, match=message):
        sample_settings(small_config, space, mode, num_samples=4)


@pytest.mark.slow
def test_sweep_returns_runs_configs_and_best(small_config):
    result = sweep(small_config, {"learning_rate": [1e-4, 1e-3, 1e-2]}, num_seeds=3, key=0)
    runs, configs = result.runs, result.configs
    assert len(runs) == 9 and list(runs["config"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert list(runs["seed"]) == [0, 1, 2] * 3
    np.testing.assert_allclose(runs["learning_rate"], np.repeat([1e-4, 1e-3, 1e-2], 3), rtol=1e-6)
    assert {"final_return", "auc"} <= set(runs.columns)
    assert list(configs.columns[:2]) == ["config", "learning_rate"]
    assert {"mean", "iqm", "ci_low", "ci_high", "auc", "num_seeds"} <= set(configs.columns)
    for _, row in configs.iterrows():
        if row["num_seeds"] > 1:
            assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert result.best["mean"] == configs["mean"].max()
    summary = result.summary()
    assert summary["num_settings"] == 3 and summary["num_runs"] == 9
    assert summary["best_setting"]["mean"] == configs["mean"].max()
    # Each run equals the same setting trained alone (one compile covered all settings).
    alone = purejaxppo.train(
        small_config, num_seeds=3, key=jax.random.split(jax.random.key(0))[1],
        hparams=small_config.replace(learning_rate=1e-3).hparams,
    )  # fmt: skip
    np.testing.assert_allclose(
        result.result.metrics["policy_loss"][3:6],
        alone.metrics["policy_loss"],
        rtol=1e-5,
        atol=1e-6,
    )
