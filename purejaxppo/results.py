"""Run directories: the one module that writes them (train, sweep, pbt) and reads them back.

Every run directory holds run.json (the command, what `resume` re-runs), config.json (the
resolved PPOConfig) and summary.json (final return, speed, devices, versions), and, by command:
    train   metrics.csv (one row per run x update), learning_curve.png, final/ (trained params and
            observation statistics, orbax), checkpoints/ while training, tensorboard/ if asked
    sweep   the same, plus runs.csv (one row per run), configs.csv (one per setting), best.json
    pbt     the same as train, plus hparams.csv (every member's hyperparameters, fitness and
            parent per generation) and hparams.png
JSON files are written whole or not at all (a temporary file, then a rename).
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
import pandas as pd

from purejaxppo.checkpoint import write_atomically
from purejaxppo.config import PPOConfig
from purejaxppo.errors import ConfigError
from purejaxppo.normalization import RunningMeanStd
from purejaxppo.plots import plot_learning_curves, plot_trajectories
from purejaxppo.population import PBTResult
from purejaxppo.runs import RunResult
from purejaxppo.sweeps import SweepResult
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


def write_json(path: Path, data: Any) -> None:
    write_atomically(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path: Path) -> Any:
    """A JSON file of a run directory, or a ConfigError naming the file and the fix."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{str(path)!r} does not exist. Fix: pass a run directory written by purejaxppo."
        ) from None
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"{str(path)!r} cannot be read ({type(error).__name__}: {error}). Fix: restore the "
            "file from a backup or run again into a new directory."
        ) from None


def check_output_dir(out: Path) -> None:
    """Raise ConfigError unless `out` is (or can be made) a writable directory. Creates nothing."""
    existing = out
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ConfigError(
            f"--out={str(out)!r}: {str(existing)!r} is a file, not a directory. Fix: choose "
            "another --out."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"--out={str(out)!r}: {str(existing)!r} is not writable. Fix: choose a directory you "
            "can write to."
        )


def create_run_directory(out: Path, name: str | None, prefix: str) -> Path:
    """Create OUT/NAME, never one that exists: a given name must be new (`resume` continues an
    old run), and default names get a random suffix so that two jobs never share one."""
    check_output_dir(out)
    if name is not None and (not name or "/" in name or name in (".", "..")):
        raise ConfigError(f"--name={name!r}: not a directory name. Fix: e.g. --name baseline.")
    directory = out / (name or f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}")
    out.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir()
    except FileExistsError:
        raise ConfigError(
            f"--name={name!r}: {str(directory)!r} already exists. Fix: choose another --name, or "
            f"continue that run with `purejaxppo resume {directory}`."
        ) from None
    return directory


def metrics_frame(metrics: dict[str, np.ndarray], columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per run x update: `columns` (each [runs]) repeated over updates, then metrics."""
    runs, updates = next(iter(metrics.values())).shape
    frame = {"run": np.repeat(np.arange(runs), updates)}
    frame.update({name: np.repeat(values, updates) for name, values in columns.items()})
    frame["update"] = np.tile(np.arange(updates), runs)
    frame.update({name: values.reshape(-1) for name, values in metrics.items()})
    return pd.DataFrame(frame)


def _save_final(directory: Path, params: Any, obs_stats: Any) -> None:
    checkpointer = ocp.StandardCheckpointer()
    final = {"params": params, "obs_stats": obs_stats}
    checkpointer.save((directory / "final").absolute(), final, force=True)
    checkpointer.wait_until_finished()
    checkpointer.close()


def _summary(result: RunResult | PBTResult, extra: dict[str, Any]) -> dict[str, Any]:
    return {**extra, "versions": versions(), "platform": platform.platform()}


def write_train(result: RunResult, directory: Path, tensorboard: bool = False) -> None:
    """config.json, summary.json, metrics.csv, learning_curve.png and final/ in `directory`."""
    config = result.config
    write_json(directory / "config.json", config.to_dict())
    write_json(directory / "summary.json", _summary(result, result.summary()))
    columns = {"setting": result.setting, "seed": result.seed}
    metrics_frame(result.metrics, columns).to_csv(directory / "metrics.csv", index=False)
    _save_final(directory, result.params, result.obs_stats)
    seeds = int(np.sum(result.setting == result.setting[0]))
    plot_learning_curves(
        result.metrics["env_steps"][0], result.metrics["episode_return"], result.setting,
        directory / "learning_curve.png",
        f"{config.env_id}: mean and 95% interval over {seeds} seeds",
    )  # fmt: skip
    if tensorboard:
        write_tensorboard(result.metrics, directory / "tensorboard")


def write_sweep(result: SweepResult, directory: Path) -> None:
    """write_train's files plus runs.csv, configs.csv and best.json."""
    run = result.result
    write_json(directory / "config.json", run.config.to_dict())
    write_json(directory / "summary.json", _summary(run, run.summary()))
    result.runs.to_csv(directory / "runs.csv", index=False)
    result.configs.to_csv(directory / "configs.csv", index=False)
    columns = {"setting": run.setting, "seed": run.seed}
    metrics_frame(run.metrics, columns).to_csv(directory / "metrics.csv", index=False)
    best = {k: (int(v) if k in ("config", "num_seeds") else v) for k, v in result.best.items()}
    write_json(directory / "best.json", best)
    labels = [", ".join(f"{n}={row[n]:.3g}" for n in result.names)
              for _, row in result.configs.iterrows()]  # fmt: skip
    plot_learning_curves(
        run.metrics["env_steps"][0], run.metrics["episode_return"], run.setting,
        directory / "learning_curve.png", f"{run.config.env_id}: sweep", labels,
    )  # fmt: skip


def pbt_summary(result: PBTResult) -> dict[str, Any]:
    from purejaxppo.stats import final_returns, first_nonfinite_update, mean_interval

    first = first_nonfinite_update(result.metrics["nonfinite"])
    final = final_returns(result.metrics["episode_return"], result.metrics["episodes_finished"])
    final = np.where(first >= 0, np.nan, final)
    interval = mean_interval(final)
    best = int(np.argmax(np.where(np.isfinite(final), final, -np.inf)))
    return {
        "env_id": result.config.env_id,
        "population": int(final.shape[0]),
        "generations": int(result.fitness.shape[0]),
        "final_return_mean": interval.mean,
        "final_return_ci95": [interval.low, interval.high],
        "members_without_final_episode": int(np.sum(~np.isfinite(final) & (first < 0))),
        "diverged_runs": int(np.sum(first >= 0)),
        "first_nonfinite_update": int(first[first >= 0].min()) if (first >= 0).any() else None,
        "best_member": best,
        "best_member_final_return": float(final[best]),
        "best_member_hparams": {k: float(v[-1, best]) for k, v in result.hparams.items()},
        "compile_seconds": result.compile_seconds,
        "run_seconds": result.run_seconds,
        "devices": list(result.devices),
    }


def write_pbt(result: PBTResult, directory: Path) -> None:
    """config.json, summary.json, metrics.csv, hparams.csv, hparams.png, learning_curve.png and
    final/ in `directory`."""
    config = result.config
    write_json(directory / "config.json", config.to_dict())
    write_json(directory / "summary.json", _summary(result, pbt_summary(result)))
    population = result.fitness.shape[1]
    metrics = result.metrics
    metrics_frame(metrics, {}).rename(columns={"run": "member"}).to_csv(
        directory / "metrics.csv", index=False
    )
    generations = result.fitness.shape[0]
    starts = np.minimum(np.arange(generations + 1) * result.interval, config.num_updates)
    env_steps = starts * config.batch_size  # at the start of each generation, and the end
    rows = {
        "generation": np.repeat(np.arange(generations), population),
        "member": np.tile(np.arange(population), generations),
        "env_steps": np.repeat(env_steps[:-1], population),
        **{name: values[:-1].reshape(-1) for name, values in result.hparams.items()},
        "fitness": result.fitness.reshape(-1),
        "parent": result.parents.reshape(-1),
    }
    pd.DataFrame(rows).to_csv(directory / "hparams.csv", index=False)
    plot_trajectories(
        result.hparams, env_steps, directory / "hparams.png",
        f"{config.env_id}: PBT, {population} members",
    )  # fmt: skip
    plot_learning_curves(
        metrics["env_steps"][0], metrics["episode_return"], np.zeros(population, int),
        directory / "learning_curve.png",
        f"{config.env_id}: PBT, mean and 95% interval over {population} members",
    )  # fmt: skip
    _save_final(directory, result.params, result.obs_stats)


def load_final(directory: Path) -> tuple[PPOConfig, Any, RunningMeanStd]:
    """The config, params and obs statistics of every run of a finished run directory."""
    config = PPOConfig(**read_json(directory / "config.json"))
    summary = read_json(directory / "summary.json")
    runs = int(summary.get("num_runs", summary.get("population", 0)))
    functions = make_train_functions(config)
    params = jax.eval_shape(functions.init_params, jax.random.key(0))
    stats = jax.eval_shape(lambda: RunningMeanStd.create(functions.spec.obs_shape))
    like = jax.tree.map(
        lambda x: np.zeros((runs, *x.shape), x.dtype), {"params": params, "obs_stats": stats}
    )
    checkpointer = ocp.StandardCheckpointer()
    try:
        final = checkpointer.restore((directory / "final").absolute(), like)
    except Exception as error:  # orbax raises many kinds for missing or damaged files
        raise ConfigError(
            f"{str(directory / 'final')!r}: the trained policies cannot be read "
            f"({type(error).__name__}). Fix: pass a directory of a finished run, or train again."
        ) from None
    finally:
        checkpointer.close()
    return config, final["params"], final["obs_stats"]


def write_tensorboard(metrics: dict[str, np.ndarray], directory: Path) -> None:
    """Per-update means over runs of every metric, as TensorBoard scalars (needs tensorboardX)."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError as error:
        raise ImportError(
            "--tensorboard needs tensorboardX. Fix: pip install 'purejaxppo[tensorboard]'."
        ) from error
    writer = SummaryWriter(str(directory))
    steps = metrics["env_steps"][0]
    for name, values in metrics.items():
        if name == "env_steps":
            continue
        finite = np.where(np.isfinite(values), values, np.nan)
        counts = np.isfinite(finite).sum(axis=0)
        means = np.where(counts > 0, np.nansum(finite, axis=0) / np.maximum(counts, 1), np.nan)
        for step, value in zip(steps, means, strict=True):
            if np.isfinite(value):
                writer.add_scalar(f"train/{name}", float(value), int(step))
    writer.close()
