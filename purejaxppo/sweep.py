"""Hyperparameter sweeps in one compiled call: a grid or random samples of the traced fields."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import jax
import numpy as np
import pandas as pd

from purejaxppo.config import TRACED_FIELDS, ConfigError, HyperParams, PPOConfig
from purejaxppo.runner import RunResult, train
from purejaxppo.stats import area_under_curve, iqm, mean_interval

# Scale parameters, sampled log-uniformly by default; the others (gamma, gae_lambda) uniformly.
LOG_SCALE_FIELDS = frozenset({"learning_rate", "ent_coef", "vf_coef", "max_grad_norm", "clip_eps"})


@dataclasses.dataclass(frozen=True)
class Range:
    """A continuous range for `mode="random"`; `log=None` picks log-uniform for scale parameters."""

    low: float
    high: float
    log: bool | None = None


SpaceValue = Sequence[float] | Range


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """`runs`: one row per (configuration, seed); `configs`: one row per configuration."""

    runs: pd.DataFrame
    configs: pd.DataFrame
    best: pd.Series  # the row of `configs` with the highest mean final return
    result: RunResult


def _check_space(config: PPOConfig, space: Mapping[str, SpaceValue]) -> None:
    if not space:
        raise ConfigError("sweep space is empty. Fix: e.g. space={'learning_rate': [1e-4, 3e-4]}.")
    static = {f.name for f in dataclasses.fields(PPOConfig)} - set(TRACED_FIELDS)
    for name, values in space.items():
        if name in static:
            raise ConfigError(
                f"sweep space: {name!r} is a static field of PPOConfig (it fixes shapes or loop "
                "counts), so it cannot vary inside one compiled call. Fix: sweep the traced "
                f"fields only and loop over {name} yourself, e.g. "
                f"`for v in values: sweep(config.replace({name}=v), space, ...)`."
            )
        if name not in TRACED_FIELDS:
            raise ConfigError(
                f"sweep space: {name!r} is not a hyperparameter. Fix: use some of "
                f"{', '.join(TRACED_FIELDS)}."
            )
        if isinstance(values, Range):
            log = name in LOG_SCALE_FIELDS if values.log is None else values.log
            if not values.low < values.high or (log and values.low <= 0):
                raise ConfigError(
                    f"sweep space: {name}={values!r} is not a valid range. Fix: low < high"
                    + (", and low > 0 for a log-uniform range (or log=False)" if log else "")
                    + "."
                )
            for bound in (values.low, values.high):
                config.replace(**{name: float(bound)})  # raises the config's own range error
        elif isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ConfigError(
                f"sweep space: {name}={values!r} must be a non-empty list of values or a Range. "
                f"Fix: e.g. {name}=[...] or {name}=Range(low, high)."
            )


def sample_settings(
    config: PPOConfig,
    space: Mapping[str, SpaceValue],
    mode: Literal["grid", "random"] = "grid",
    num_samples: int | None = None,
    key: jax.Array | int = 0,
) -> list[dict[str, float]]:
    """The swept values of each setting, in order (grid: the first field varies slowest)."""
    _check_space(config, space)
    names = list(space)
    if mode == "grid":
        ranged = [n for n in names if isinstance(space[n], Range)]
        if ranged:
            raise ConfigError(
                f"sweep space: {ranged[0]} is a Range, which a grid cannot enumerate. Fix: give "
                "it a list of values (e.g. np.geomspace(1e-4, 1e-2, 5)) or use mode='random'."
            )
        settings = [dict(zip(names, map(float, combo), strict=True))
                    for combo in itertools.product(*(space[n] for n in names))]  # fmt: skip
    elif mode == "random":
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ConfigError(
                f"num_samples={num_samples!r}: random sweeps need a positive number of samples. "
                "Fix: e.g. num_samples=16."
            )
        key = jax.random.key(key) if isinstance(key, int) else key
        seed = int(jax.random.randint(key, (), 0, np.iinfo(np.int32).max))
        rng = np.random.default_rng(seed)
        columns = {}
        for name in names:
            values = space[name]
            if isinstance(values, Range):
                log = name in LOG_SCALE_FIELDS if values.log is None else values.log
                if log:
                    low, high = np.log(values.low), np.log(values.high)
                    columns[name] = np.exp(rng.uniform(low, high, num_samples))
                else:
                    columns[name] = rng.uniform(values.low, values.high, num_samples)
            else:
                columns[name] = rng.choice(np.asarray(values, np.float64), num_samples)
        settings = [{n: float(columns[n][i]) for n in names} for i in range(num_samples)]
    else:
        raise ConfigError(f"mode={mode!r}: unknown sweep mode. Fix: mode='grid' or 'random'.")
    for values in settings:
        config.replace(**values)  # every setting must be a valid config
    return settings


def sweep(
    config: PPOConfig,
    space: Mapping[str, SpaceValue],
    num_seeds: int = 8,
    mode: Literal["grid", "random"] = "grid",
    num_samples: int | None = None,
    key: jax.Array | int = 0,
    **runner_options: Any,
) -> SweepResult:
    """Train every setting of `space` with `num_seeds` seeds in one compiled, vmapped call.

    `space` maps traced hyperparameters (`TRACED_FIELDS`) to a list of values, or (random mode)
    to a `Range`. Aggregates per configuration: mean final return, IQM (mean of the middle 50%,
    scipy.stats.trim_mean), and a 95% percentile-bootstrap interval of the mean over seeds
    (scipy.stats.bootstrap, 10k resamples). `runner_options` go to `purejaxppo.train`.
    """
    key = jax.random.key(key) if isinstance(key, int) else key
    sample_key, train_key = jax.random.split(key)
    settings = sample_settings(config, space, mode, num_samples, sample_key)
    names = list(space)
    hparams = HyperParams.stack([config.replace(**values).hparams for values in settings])
    result = train(config, num_seeds=num_seeds, key=train_key, hparams=hparams, **runner_options)

    final = result.final_returns
    auc = area_under_curve(result.metrics["episode_return"])
    runs = pd.DataFrame(
        {
            "config": result.setting,
            "seed": result.seed,
            **{name: getattr(result.hparams, name).astype(np.float64) for name in names},
            "final_return": final,
            "auc": auc,
        }
    )
    rows = []
    for index, values in enumerate(settings):
        seeds_final = final[result.setting == index]
        interval = mean_interval(seeds_final)
        finite = seeds_final[np.isfinite(seeds_final)]
        rows.append(
            {
                "config": index,
                **values,
                "mean": interval.mean,
                "iqm": iqm(finite),
                "ci_low": interval.low,
                "ci_high": interval.high,
                "auc": float(np.nanmean(auc[result.setting == index])),
                "num_seeds": interval.num_runs,
            }
        )
    configs = pd.DataFrame(rows)
    ranked = configs["mean"].fillna(-np.inf)
    best = configs.loc[ranked.idxmax()]
    return SweepResult(runs=runs, configs=configs, best=best, result=result)
