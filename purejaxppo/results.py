"""A run directory on disk: what was asked, what came out, and a plot.

run.json            the config and runner options (what `purejaxppo resume` re-runs)
config.json         the resolved PPOConfig
summary.json        final return (mean, 95% CI over runs), speed, devices, versions
metrics.csv         one row per run x update: run, setting, seed, every metric
learning_curve.png  mean episode return and its 95% interval over seeds, per setting
final/              trained params and observation statistics of every run (orbax)
checkpoints/        the training loop's carry (orbax), while training runs
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
import pandas as pd

from purejaxppo.config import PPOConfig
from purejaxppo.normalization import RunningMeanStd
from purejaxppo.runner import RunResult
from purejaxppo.trainer import make_train_functions


def versions() -> dict[str, str]:
    """Installed versions of this package and what it trains with (distribution metadata)."""
    from importlib import metadata

    found = {}
    for name in ("purejaxppo", "jax", "jaxlib", "flax", "optax", "gymnax", "distrax", "brax"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name != "brax":  # an optional extra
                found[name] = "not installed"
    found["python"] = platform.python_version()
    return found


def metrics_frame(result: RunResult) -> pd.DataFrame:
    """One row per run x update, with the run's setting and seed."""
    runs, updates = result.metrics["env_steps"].shape
    frame = {
        "run": np.repeat(np.arange(runs), updates),
        "setting": np.repeat(result.setting, updates),
        "seed": np.repeat(result.seed, updates),
        "update": np.tile(np.arange(updates), runs),
    }
    frame.update({name: values.reshape(-1) for name, values in result.metrics.items()})
    return pd.DataFrame(frame)


def write_run(result: RunResult, directory: Path, plot: bool = True) -> None:
    """config.json, summary.json, metrics.csv, learning_curve.png and final/ in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(result.config.to_dict(), indent=2) + "\n")
    summary = {**result.summary(), "versions": versions(), "platform": platform.platform()}
    (directory / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    metrics_frame(result).to_csv(directory / "metrics.csv", index=False)
    checkpointer = ocp.StandardCheckpointer()
    final = {"params": result.params, "obs_stats": result.obs_stats}
    checkpointer.save((directory / "final").absolute(), final, force=True)
    checkpointer.wait_until_finished()
    checkpointer.close()
    if plot:
        plot_learning_curves(result, directory / "learning_curve.png")


def load_final(directory: Path) -> tuple[PPOConfig, Any, RunningMeanStd]:
    """The config, params and obs statistics of every run of a finished run directory."""
    config = PPOConfig(**json.loads((directory / "config.json").read_text()))
    runs = json.loads((directory / "summary.json").read_text())["num_runs"]
    functions = make_train_functions(config)
    params = jax.eval_shape(functions.init_params, jax.random.key(0))
    stats = jax.eval_shape(lambda: RunningMeanStd.create(functions.spec.obs_shape))
    like = jax.tree.map(
        lambda x: np.zeros((runs, *x.shape), x.dtype), {"params": params, "obs_stats": stats}
    )
    checkpointer = ocp.StandardCheckpointer()
    final = checkpointer.restore((directory / "final").absolute(), like)
    checkpointer.close()
    return config, final["params"], final["obs_stats"]


def curve_with_interval(returns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs [runs, updates] per update, with a 95% t-interval; NaNs are skipped."""
    from scipy import stats

    finite = np.isfinite(returns)
    count = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, np.where(finite, returns, 0.0).sum(axis=0) / count, np.nan)
        centered = np.where(finite, returns - mean, 0.0)
        std = np.sqrt((centered**2).sum(axis=0) / np.maximum(count - 1, 1))
        half = stats.t.ppf(0.975, np.maximum(count - 1, 1)) * std / np.sqrt(count)
    half = np.where(count > 1, half, 0.0)
    return mean, mean - half, mean + half


def plot_learning_curves(result: RunResult, path: Path, labels: list[str] | None = None) -> None:
    """Mean return and its 95% interval across seeds against env steps; one line per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = result.metrics["env_steps"][0]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for setting in np.unique(result.setting):
        runs = result.setting == setting
        mean, low, high = curve_with_interval(result.metrics["episode_return"][runs])
        label = labels[setting] if labels else None
        (line,) = ax.plot(steps, mean, lw=1.5, label=label)
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.25, lw=0)
    seeds = int(np.sum(result.setting == result.setting[0]))
    ax.set_xlabel("env steps per run")
    ax.set_ylabel("episode return")
    ax.set_title(f"{result.config.env_id}: mean and 95% interval over {seeds} seeds")
    ax.grid(alpha=0.3)
    if labels:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_tensorboard(result: RunResult, directory: Path) -> None:
    """Per-update means over runs of every metric, as TensorBoard scalars (needs tensorboardX)."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError as error:
        raise ImportError(
            "--tensorboard needs tensorboardX. Fix: pip install 'purejaxppo[tensorboard]'."
        ) from error
    writer = SummaryWriter(str(directory))
    steps = result.metrics["env_steps"][0]
    for name, values in result.metrics.items():
        if name == "env_steps":
            continue
        means = np.nanmean(np.where(np.isfinite(values), values, np.nan), axis=0)
        for step, value in zip(steps, means, strict=True):
            if np.isfinite(value):
                writer.add_scalar(f"train/{name}", float(value), int(step))
    writer.close()
