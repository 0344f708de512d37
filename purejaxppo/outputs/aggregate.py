"""Aggregate scores over environments the way papers report them, with rliable (Agarwal et al.,
2021): IQM, median, mean and optimality gap of normalised scores with stratified-bootstrap
intervals, performance profiles and the probability of improvement (the optional
`purejaxppo[report]` extra).

Input: one matrix [runs, tasks] of normalised final returns per group (`Scores`). rliable
resamples runs within each task (stratified), so each task needs the same number of runs: a
group keeps, per task, its first k finite scores, k the fewest any task has; the diverged runs
and the runs dropped to equalise are counted, never averaged in.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from purejaxppo.base.errors import ConfigError

METRICS = ("iqm", "median", "mean", "optimality_gap")
REPS = 2_000  # bootstrap resamples: rliable's default for profiles; intervals settle by then


def _rliable() -> tuple[Any, Any]:
    try:
        from rliable import library, metrics
    except ImportError as error:
        raise ConfigError(
            f"report needs rliable ({error}). Fix: pip install 'purejaxppo[report]'."
        ) from error
    return library, metrics


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """rliable's stratified bootstrap draws from NumPy's global generator (not from its
    `random_state`): seed it for reproducible intervals, and leave it as it was."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


@dataclasses.dataclass(frozen=True)
class Scores:
    """One group's normalised scores, [runs, tasks], and what was left out of them."""

    matrix: np.ndarray
    tasks: tuple[str, ...]
    diverged: int  # runs left out because training diverged
    unscored: int  # runs left out because no episode finished in the scoring window
    dropped: int  # finite runs left out so that every task has as many runs


def equalised(frame: pd.DataFrame, tasks: list[str], group: str = "") -> Scores:
    """`frame` (columns task, score, diverged; one row per run) as a [runs, tasks] matrix."""
    missing = ~np.isfinite(frame.score)
    finite = {
        t: frame.score[(frame.task == t) & np.isfinite(frame.score)].to_numpy() for t in tasks
    }
    k = min(len(values) for values in finite.values())
    if k == 0:
        empty = [t for t in tasks if not len(finite[t])]
        raise ConfigError(
            f"report: group {group!r} has no finite score on {', '.join(empty)} (every run "
            "diverged or finished no episode in its last 5% of updates). Fix: leave those runs "
            "out, or train them longer."
        )
    matrix = np.stack([finite[t][:k] for t in tasks], axis=1)
    dropped = sum(len(values) - k for values in finite.values())
    diverged = int((missing & frame.diverged).sum())
    return Scores(matrix, tuple(tasks), diverged, int(missing.sum()) - diverged, int(dropped))


def _aggregate_func(metrics: Any, gap_threshold: float) -> Callable[[np.ndarray], np.ndarray]:
    def aggregate(x: np.ndarray) -> np.ndarray:
        return np.array(
            [
                metrics.aggregate_iqm(x),
                metrics.aggregate_median(x),
                metrics.aggregate_mean(x),
                metrics.aggregate_optimality_gap(x, gap_threshold),
            ]
        )

    return aggregate


def aggregate(
    groups: dict[str, Scores], reps: int = REPS, seed: int = 0, gap_threshold: float = 1.0
) -> pd.DataFrame:
    """One row per group: each metric with its 95% stratified-bootstrap interval (rliable's
    `get_interval_estimates`, percentile method), the runs and tasks used, and the runs left
    out. The optimality gap is the mean shortfall below `gap_threshold` (1: the reference)."""
    library, metrics = _rliable()
    with seeded(seed):
        points, intervals = library.get_interval_estimates(
            {name: s.matrix for name, s in groups.items()},
            _aggregate_func(metrics, gap_threshold),
            reps=reps,
        )
    rows = []
    for name, s in groups.items():
        row: dict[str, Any] = {"group": name}
        for i, metric in enumerate(METRICS):
            row.update(
                {
                    metric: points[name][i],
                    f"{metric}_low": intervals[name][0, i],
                    f"{metric}_high": intervals[name][1, i],
                }
            )
        row.update(
            {
                "runs": s.matrix.shape[0],
                "tasks": len(s.tasks),
                "diverged_excluded": s.diverged,
                "unscored_excluded": s.unscored,
                "dropped_to_equalise": s.dropped,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def profiles(
    groups: dict[str, Scores], taus: np.ndarray, reps: int = REPS, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Performance profiles (the fraction of runs above each tau, over all tasks) and their
    95% bands [2, len(taus)], by rliable."""
    library, _ = _rliable()
    with seeded(seed):
        return library.create_performance_profile(
            {name: s.matrix for name, s in groups.items()}, taus, reps=reps
        )


def improvement(
    groups: dict[str, Scores], pairs: list[tuple[str, str]], reps: int = REPS, seed: int = 0
) -> pd.DataFrame:
    """P(X > Y) for each pair (X, Y) over the tasks both have, with its 95% interval
    (rliable's probability of improvement, runs resampled independently per group)."""
    library, metrics = _rliable()
    data = {}
    for x, y in pairs:
        shared = [t for t in groups[x].tasks if t in groups[y].tasks]
        if not shared:
            raise ConfigError(
                f"--compare {x} {y}: the groups share no environment. Fix: "
                "compare groups trained on the same environments."
            )
        data[f"{x} > {y}"] = tuple(
            groups[g].matrix[:, [groups[g].tasks.index(t) for t in shared]] for g in (x, y)
        )
    with seeded(seed):
        points, intervals = library.get_interval_estimates(
            data, lambda a, b: np.array([metrics.probability_of_improvement(a, b)]), reps=reps
        )
    return pd.DataFrame(
        [
            {
                "pair": pair,
                "probability": points[pair][0],
                "low": intervals[pair][0, 0],
                "high": intervals[pair][1, 0],
            }
            for pair in data
        ]
    )
