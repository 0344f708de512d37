"""Summaries over runs: the final return of each run and a bootstrap interval over runs."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats as scipy_stats

FINAL_FRACTION = 0.05


def final_returns(
    episode_return: np.ndarray, episodes_finished: np.ndarray, fraction: float = FINAL_FRACTION
) -> np.ndarray:
    """Mean return of the episodes that finished in the last `fraction` of updates, per run.

    Inputs are [runs, updates] (or [updates]); episodes are weighted by how many finished in each
    update, so an update where none finished (NaN return) counts for nothing. A run with no
    finished episode in the window gets NaN, and so does a run whose finished episodes have a
    non-finite return (a diverged run): NaN is never summed as 0.
    """
    episode_return = np.atleast_2d(np.asarray(episode_return, np.float64))
    count = np.atleast_2d(np.asarray(episodes_finished, np.float64))
    window = max(1, int(np.ceil(episode_return.shape[-1] * fraction)))
    returns, count = episode_return[..., -window:], count[..., -window:]
    total = np.sum(np.where(count > 0, returns * count, 0.0), axis=-1)
    finished = count.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finished > 0, total / finished, np.nan)


def first_nonfinite_update(nonfinite: np.ndarray) -> np.ndarray:
    """[runs, updates] flags -> [runs]: the first update whose losses, gradients or parameters
    were not finite, or -1 for a run that never diverged."""
    nonfinite = np.atleast_2d(np.asarray(nonfinite)) > 0
    return np.where(nonfinite.any(axis=-1), nonfinite.argmax(axis=-1), -1)


def area_under_curve(episode_return: np.ndarray) -> np.ndarray:
    """Area under each run's learning curve divided by its length, [runs, updates] -> [runs].

    Updates are equally spaced in env steps, so this is the mean over updates of the per-update
    mean episode return; updates in which no episode finished are skipped (NaN if none did).
    """
    episode_return = np.atleast_2d(np.asarray(episode_return, np.float64))
    finished = np.isfinite(episode_return)
    total = np.where(finished, episode_return, 0.0).sum(axis=-1)
    count = finished.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


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
