"""One definition of a run's scores: the compiled loop (PBT, ES) and the host (summaries, the"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import purejaxppo
from purejaxppo import mean_interval
from purejaxppo.search import scores

METRICS = {  # 3 runs x 4 updates; run 2 diverged at update 2 (its returns stay finite)
    "episode_return": np.array(
        [[1.0, np.nan, 3.0, 5.0], [2.0, 2.0, np.nan, np.nan], [1.0, 4.0, 9.0, 9.0]], np.float32
    ),
    "episodes_finished": np.array([[1, 0, 2, 1], [3, 1, 0, 0], [1, 1, 1, 1]], np.int32),
    "nonfinite": np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]], np.int32),
}


def test_bootstrap_interval():
    interval = mean_interval(np.array([1.0, 2.0, 3.0, 4.0, np.nan]))
    assert interval.num_runs == 4 and interval.mean == 2.5
    assert 1.0 <= interval.low < 2.5 < interval.high <= 4.0
    constant = mean_interval(np.full(8, 500.0))
    assert (constant.low, constant.high) == (500.0, 500.0)
    one = mean_interval(np.array([7.0, np.nan]))  # one run says nothing of spread
    assert one.mean == 7.0 and np.isnan(one.low) and np.isnan(one.high)
    assert str(one) == "7.00 (1 run: no interval)"


@pytest.mark.parametrize("name", sorted(scores.SCORES))
def test_host_and_compiled_scores_agree(name):
    score = scores.SCORES[name]
    np.testing.assert_array_equal(score(METRICS), jax.jit(score)(METRICS))


def test_the_scores_by_hand():
    np.testing.assert_allclose(scores.windowed_return(METRICS, 0.5), [(6 + 5) / 3, np.nan, np.nan])
    np.testing.assert_allclose(scores.area_under_curve(METRICS), [3.0, 2.0, np.nan])
    np.testing.assert_array_equal(scores.diverged_at(METRICS["nonfinite"]), [-1, -1, 2])


def test_the_sweep_column_and_es_fitness_are_one_score(small_config):
    # Before, the sweep's auc column counted a diverged run's finite returns while ES's fitness
    # of the same name gave NaN.

    bad = small_config.replace(learning_rate=1e30, max_grad_norm=1e30).hparams
    settings = purejaxppo.HyperParams.stack([small_config.hparams, bad])
    result = purejaxppo.train(small_config, num_seeds=1, hparams=settings)
    auc = scores.area_under_curve(result.metrics)
    assert np.isfinite(auc[0]) and np.isnan(auc[1])
    np.testing.assert_array_equal(result.final_returns, scores.final_return(result.metrics))


def test_a_win_rate_and_each_agents_return_are_scored_as_the_return():
    """Per-episode metrics other than the return (SMAX's win rate, an agent's own return) are
    weighted by the episodes finished in each update, and a diverged run scores NaN."""
    metrics = {**METRICS, "win_rate": np.array([[0.0, np.nan, 0.5, 1.0]] * 3, np.float32)}
    np.testing.assert_allclose(
        scores.windowed_mean(metrics, "win_rate", 0.5), [(0.5 * 2 + 1.0) / 3, np.nan, np.nan]
    )
    np.testing.assert_array_equal(
        scores.windowed_mean(metrics, "episode_return"), scores.final_return(metrics)
    )
