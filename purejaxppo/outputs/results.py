"""What each command writes into its run directory (`rundirs` creates it and does the I/O).

Every run directory holds run.json (the command, what `resume` re-runs), config.json (the
resolved PPOConfig) and summary.json (final return, speed, devices, versions), and, by command:
    train   metrics.csv (one row per run x update), learning_curve.png, final/ (trained params and
            observation statistics, orbax), checkpoints/ while training, tensorboard/ and wandb/
            if asked (written by `tracking`)
    sweep   the same, plus runs.csv (one row per run), configs.csv (one per setting), best.json
    pbt     the same as train, plus hparams.csv (every member's hyperparameters, fitness and
            parent per generation) and hparams.png
    es      es.csv (every member's setting and fitness per generation), search.csv (the search
            distribution's mean per generation), es.png, best.json; no trained policies (every
            generation trains from scratch: train the best setting on held-out seeds)
JSON files are strict JSON (NaN as null), written whole or not at all (a temporary file, then a
rename). summary.json is written last, so that a directory with it is finished: every artefact
of `artefacts(record)` exists (`resume` writes any that is missing again from the checkpoint).
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from purejaxppo.outputs.plots import plot_es, plot_learning_curves, plot_trajectories
from purejaxppo.outputs.rundirs import save_final, versions, write_json
from purejaxppo.search import scores
from purejaxppo.search.es import ESResult
from purejaxppo.search.pbt import PBTResult
from purejaxppo.search.space import columns as field_columns
from purejaxppo.search.sweep import SweepResult
from purejaxppo.search.train import RunResult


def metrics_frame(metrics: dict[str, np.ndarray], columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per run x update: `columns` (each [runs]) repeated over updates, then metrics."""
    runs, updates = next(iter(metrics.values())).shape
    frame = {"run": np.repeat(np.arange(runs), updates)}
    frame.update({name: np.repeat(values, updates) for name, values in columns.items()})
    frame["update"] = np.tile(np.arange(updates), runs)
    frame.update({name: values.reshape(-1) for name, values in metrics.items()})
    return pd.DataFrame(frame)


_WRITTEN = {
    "train": ("config.json", "metrics.csv", "final", "learning_curve.png"),
    "sweep": ("config.json", "runs.csv", "configs.csv", "metrics.csv", "best.json", "final",
              "learning_curve.png"),
    "pbt": ("config.json", "metrics.csv", "hparams.csv", "hparams.png", "learning_curve.png",
            "final"),
    "es": ("config.json", "best.json", "es.csv", "search.csv", "es.png"),
}  # fmt: skip


def artefacts(record: dict[str, Any]) -> tuple[str, ...]:
    """What a finished run directory holds, for its run.json `record`; summary.json last."""
    tracked = tuple(name for name in ("tensorboard", "wandb") if record.get(name))
    return (*_WRITTEN[record["command"]], *tracked, "summary.json")


def missing_artefacts(directory: Path, record: dict[str, Any]) -> list[str]:
    return [name for name in artefacts(record) if not (directory / name).exists()]


def finish(directory: Path, summary: dict[str, Any]) -> None:
    """Write summary.json, the mark of a finished directory: only after every other artefact."""
    write_json(directory / "summary.json", _summary(summary))


def _summary(extra: dict[str, Any]) -> dict[str, Any]:
    return {**extra, "versions": versions(), "platform": platform.platform()}


def write_train(result: RunResult, directory: Path) -> dict[str, Any]:
    """config.json, metrics.csv, learning_curve.png and final/ in `directory`; returns the
    summary for `finish`."""
    config = result.config
    write_json(directory / "config.json", config.to_dict())
    columns = {"setting": result.setting, "seed": result.seed}
    metrics_frame(result.metrics, columns).to_csv(directory / "metrics.csv", index=False)
    save_final(directory, result.params, result.obs_stats)
    seeds = int(np.sum(result.setting == result.setting[0]))
    plot_learning_curves(
        result.metrics["env_steps"][0], result.metrics["episode_return"], result.setting,
        directory / "learning_curve.png",
        f"{config.env_id}: mean and 95% interval over {seeds} seeds",
        diverged_at=result.first_nonfinite_update,
    )  # fmt: skip
    return result.summary()


def write_sweep(result: SweepResult, directory: Path) -> dict[str, Any]:
    """write_train's files plus runs.csv, configs.csv and best.json; returns the summary."""
    run = result.result
    write_json(directory / "config.json", run.config.to_dict())
    result.runs.to_csv(directory / "runs.csv", index=False)
    result.configs.to_csv(directory / "configs.csv", index=False)
    columns = {"setting": run.setting, "seed": run.seed}
    metrics_frame(run.metrics, columns).to_csv(directory / "metrics.csv", index=False)
    write_json(directory / "best.json", result.summary()["best_setting"])
    labels = [", ".join(f"{n}={row[n]:.3g}" for n in result.names)
              for _, row in result.configs.iterrows()]  # fmt: skip
    plot_learning_curves(
        run.metrics["env_steps"][0], run.metrics["episode_return"], run.setting,
        directory / "learning_curve.png", f"{run.config.env_id}: sweep", labels,
        diverged_at=run.first_nonfinite_update,
    )  # fmt: skip
    save_final(directory, run.params, run.obs_stats)
    return result.summary()


def write_pbt(result: PBTResult, directory: Path) -> dict[str, Any]:
    """config.json, metrics.csv, hparams.csv, hparams.png, learning_curve.png and final/ in
    `directory`; returns the summary."""
    config = result.config
    write_json(directory / "config.json", config.to_dict())
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
        **{
            column: values[:-1].reshape(-1)
            for name, v in result.hparams.items()
            for column, values in field_columns(name, v, 2).items()
        },
        "fitness": result.fitness.reshape(-1),
        "parent": result.parents.reshape(-1),
    }
    pd.DataFrame(rows).to_csv(directory / "hparams.csv", index=False)
    trajectories = {
        column: values for name, v in result.hparams.items()
        for column, values in field_columns(name, v, 2).items()
    }  # fmt: skip
    plot_trajectories(
        trajectories, env_steps, directory / "hparams.png",
        f"{config.env_id}: PBT, {population} members",
    )  # fmt: skip
    plot_learning_curves(
        metrics["env_steps"][0], metrics["episode_return"], np.zeros(population, int),
        directory / "learning_curve.png",
        f"{config.env_id}: PBT, mean and 95% interval over {population} members",
        diverged_at=np.asarray(scores.diverged_at(metrics["nonfinite"])),
    )  # fmt: skip
    save_final(directory, result.params, result.obs_stats)
    return result.summary()


def write_es(result: ESResult, directory: Path) -> dict[str, Any]:
    """config.json, best.json, es.csv, search.csv and es.png in `directory`; returns the
    summary."""
    config = result.config
    write_json(directory / "config.json", config.to_dict())
    summary = result.summary()
    write_json(directory / "best.json", {**summary["best"], "fitness": summary["best_fitness"]})
    generations, population = result.fitness.shape
    shown = {
        column: values
        for name, v in result.hparams.items() if name != "drift"
        for column, values in field_columns(name, v, 2).items()
    }  # fmt: skip
    rows = {
        "generation": np.repeat(np.arange(generations), population),
        "member": np.tile(np.arange(population), generations),
        **{column: values.reshape(-1) for column, values in shown.items()},
        "fitness": result.fitness.reshape(-1),
        "diverged_seeds": result.diverged.sum(axis=2).reshape(-1),
    }
    pd.DataFrame(rows).to_csv(directory / "es.csv", index=False)
    means = {
        column: values
        for name, v in result.mean.items() if name != "drift"
        for column, values in field_columns(name, v, 1).items()
    }  # fmt: skip
    frame = pd.DataFrame({"generation": np.arange(generations + 1), **means})
    frame.to_csv(directory / "search.csv", index=False)
    plot_es(
        result.fitness, shown, means, directory / "es.png",
        f"{config.env_id}: {result.strategy}, {population} members x {result.num_seeds} seeds",
    )  # fmt: skip
    return summary
