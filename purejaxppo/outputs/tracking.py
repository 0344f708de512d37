"""Experiment tracking: the per-update means over runs of every metric, written after training to
TensorBoard (tensorboardX) and/or Weights & Biases (wandb, offline unless asked otherwise), with
the config. Both are optional extras; a missing one is named with its pip command."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np

from purejaxppo.base.errors import ConfigError

_EXTRAS = {"tensorboard": ("tensorboardX", "tensorboard"), "wandb": ("wandb", "wandb")}


def require(tool: str) -> None:
    """Raise ConfigError naming the pip command unless `tool`'s package ("tensorboard" or
    "wandb") imports: checked before training, so that a finished run never fails on it."""
    module, extra = _EXTRAS[tool]
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"--{tool} needs {module}, which is not installed. Fix: pip install "
            f"'purejaxppo[{extra}]', or drop --{tool}."
        ) from None


def per_update_means(metrics: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Env steps per update [T] and, for every other metric [runs, T], its mean over the runs
    that have a finite value (NaN where none has: an update in which no episode finished)."""
    means = {}
    for name, values in metrics.items():
        if name == "env_steps":
            continue
        values = np.asarray(values, np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means[name] = np.nanmean(np.where(np.isfinite(values), values, np.nan), axis=0)
    return np.asarray(metrics["env_steps"][0]), means


def write_tensorboard(metrics: dict[str, np.ndarray], directory: Path) -> None:
    """Scalars train/NAME against env steps in `directory` (needs tensorboardX)."""
    require("tensorboard")
    from tensorboardX import SummaryWriter

    steps, means = per_update_means(metrics)
    writer = SummaryWriter(str(directory))
    for name, values in means.items():
        for step, value in zip(steps, values, strict=True):
            if np.isfinite(value):
                writer.add_scalar(f"train/{name}", float(value), int(step))
    writer.close()


def write_wandb(
    metrics: dict[str, np.ndarray],
    config: dict[str, Any],
    directory: Path,
    project: str,
    name: str,
    mode: Literal["offline", "online"] = "offline",
) -> Path:
    """One wandb run named `name` in `project`, its files under `directory`: the config and, per
    update, train/NAME against env steps. Offline mode needs no network (`wandb sync` uploads it
    later). Returns the run's local directory."""
    require("wandb")
    import wandb

    steps, means = per_update_means(metrics)
    directory.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=project, name=name, dir=str(directory), config=config, mode=mode,
                     reinit="create_new", settings=wandb.Settings(silent=True))  # fmt: skip
    try:
        run.define_metric("env_steps")
        run.define_metric("train/*", step_metric="env_steps")
        for index, step in enumerate(steps):
            row = {f"train/{k}": float(v[index]) for k, v in means.items() if np.isfinite(v[index])}
            run.log({"env_steps": int(step), **row})
        local = Path(run.dir).parent
    finally:
        run.finish()
    return local
