"""Hyperparameter sweeps: a grid or random samples of the traced fields, all in one compiled call
(through `train`, so sharded, chunked, checkpointed and resumable like any batch of runs)."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import jax
import numpy as np
import pandas as pd

from purejaxppo.base.errors import as_key
from purejaxppo.core.config import PPOConfig
from purejaxppo.search import scores
from purejaxppo.search.space import Space, columns, sample_settings, stack_settings
from purejaxppo.search.stats import iqm, mean_interval
from purejaxppo.search.train import RunResult, train


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """`runs`: one row per (configuration, seed); `configs`: one row per configuration."""

    runs: pd.DataFrame
    configs: pd.DataFrame
    best: pd.Series  # the row of `configs` with the highest mean final return
    result: RunResult
    names: tuple[str, ...]  # the swept fields' columns (a schedule has one per knot: name[k])

    def summary(self) -> dict[str, Any]:
        """What summary.json says: the runs' summary, the number of settings and the best one."""
        best = {k: (int(v) if k in ("config", "num_seeds") else float(v))
                for k, v in self.best.items()}  # fmt: skip
        return {**self.result.summary(), "num_settings": len(self.configs), "best_setting": best}


def sweep(
    config: PPOConfig,
    space: Space,
    num_seeds: int = 8,
    mode: Literal["grid", "random"] = "grid",
    num_samples: int | None = None,
    key: jax.Array | int = 0,
    **train_options: Any,
) -> SweepResult:
    """Train every setting of `space` with `num_seeds` seeds in one compiled, vmapped call.

    `space` maps traced hyperparameters to a list of values, or (random mode) to a `Range`.
    Aggregates per configuration: mean final return, IQM (mean of the middle 50%), a 95%
    percentile-bootstrap interval of the mean over seeds, how many seeds diverged and how many
    finished no episode in their final window (both are left out of the mean). `train_options`
    go to `train`.
    """
    sample_key, train_key = jax.random.split(as_key(key))
    settings = sample_settings(config, space, mode, num_samples, sample_key)
    hparams = stack_settings(config, settings)
    result = train(config, num_seeds=num_seeds, key=train_key, hparams=hparams, **train_options)

    final = result.final_returns
    auc = np.asarray(scores.area_under_curve(result.metrics), np.float64)
    runs = pd.DataFrame(
        {
            "config": result.setting,
            "seed": result.seed,
            **{
                column: values.astype(np.float64)
                for name in space
                for column, values in columns(name, getattr(result.hparams, name), 1).items()
            },
            "final_return": final,
            "auc": auc,
            "first_nonfinite_update": result.first_nonfinite_update,
        }
    )
    rows = []
    for index, values in enumerate(settings):
        mine = result.setting == index
        interval = mean_interval(final[mine])
        rows.append(
            {
                "config": index,
                **{
                    column: float(value)
                    for name, v in values.items()
                    for column, value in columns(name, np.asarray(v), 0).items()
                },
                "mean": interval.mean,
                "iqm": iqm(final[mine]),
                "ci_low": interval.low,
                "ci_high": interval.high,
                "auc": float(np.nanmean(auc[mine])) if np.isfinite(auc[mine]).any() else np.nan,
                "num_seeds": int(mine.sum()),
                "diverged_seeds": int(np.sum(result.first_nonfinite_update[mine] >= 0)),
                "seeds_without_final_episode": int(
                    np.sum(~np.isfinite(final[mine]) & (result.first_nonfinite_update[mine] < 0))
                ),
            }
        )
    configs = pd.DataFrame(rows)
    names = tuple(c for c in runs.columns if c.split("[")[0] in space)
    best = configs.loc[configs["mean"].fillna(-np.inf).idxmax()]
    return SweepResult(runs=runs, configs=configs, best=best, result=result, names=names)
