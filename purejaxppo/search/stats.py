"""Summaries over runs: bootstrap intervals and the interquartile mean of runs' scores (each
run's score comes from `scores`)."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats as scipy_stats

from purejaxppo.search.scores import FINAL_FRACTION, windowed_return


def final_returns(
    episode_return: np.ndarray, episodes_finished: np.ndarray, fraction: float = FINAL_FRACTION
) -> np.ndarray:
    """[runs, updates] (or [updates]) -> [runs]: `scores.windowed_return` of a run's returns and
    episode counts alone (no divergence flags: see `scores` for the score of whole metrics)."""
    episode_return = np.atleast_2d(np.asarray(episode_return, np.float32))
    metrics = {
        "episode_return": episode_return,
        "episodes_finished": np.atleast_2d(episodes_finished),
        "nonfinite": np.zeros(episode_return.shape, np.int32),
    }
    return np.asarray(windowed_return(metrics, fraction), np.float64)


def iqm(values: np.ndarray) -> float:
    """Interquartile mean (mean of the middle 50%, as rliable defines it), NaNs dropped."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(scipy_stats.trim_mean(values, 0.25)) if values.size else float("nan")


@dataclasses.dataclass(frozen=True)
class Interval:
    """A mean over runs with a 95% percentile-bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    num_runs: int

    def __str__(self) -> str:
        if self.num_runs < 2:
            return f"{self.mean:.2f} ({self.num_runs} run: no interval)"
        return f"{self.mean:.2f} [{self.low:.2f}, {self.high:.2f}] (95% CI, {self.num_runs} runs)"


def mean_interval(values: np.ndarray, confidence: float = 0.95, seed: int = 0) -> Interval:
    """Mean of `values` (NaNs dropped), percentile-bootstrap interval (scipy, 10k resamples).
    Fewer than 2 values give no interval (low and high NaN): one run says nothing of spread."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2:
        mean = float(values.mean()) if values.size else np.nan
        return Interval(mean, np.nan, np.nan, int(values.size))
    mean = float(values.mean())
    if np.all(values == values[0]):
        return Interval(mean, mean, mean, int(values.size))
    result = scipy_stats.bootstrap(
        (values,),
        np.mean,
        confidence_level=confidence,
        n_resamples=10_000,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return Interval(mean, float(ci.low), float(ci.high), int(values.size))
