"""What each training command does (train, sweep, pbt, es, resume): check everything, create the
run directory, call the library, write the results (through `results`) and print a summary.

Nothing is created before every argument has been checked; a run directory is created
exclusively, held by one process at a time (`rundirs.locked`), and removed again only if the
command fails before it saved anything worth resuming.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax

from purejaxppo.base.errors import EXIT_DIVERGED, ConfigError, as_key
from purejaxppo.cli.hooks import hooks
from purejaxppo.cli.options import (
    COMMANDS,
    ESCommand,
    PBTCommand,
    ResumeCommand,
    SweepCommand,
    TrainCommand,
)
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.trainer import abstract_params
from purejaxppo.outputs import preflight, results, rundirs, tracking
from purejaxppo.search.checks import check_es_arguments, check_pbt_arguments, check_train_arguments
from purejaxppo.search.es import es
from purejaxppo.search.pbt import pbt
from purejaxppo.search.space import parse_space, sample_settings
from purejaxppo.search.sweep import sweep
from purejaxppo.search.train import train


def _start(command: Any, directory: Path | None, prefix: str, runs: int) -> Path:
    """The run directory: a new one (created exclusively, with run.json) or `directory` when
    resuming. The config is checked against its environment, and the job's size against the
    disk, first."""
    network = hooks(command).get("network")
    params, spec = abstract_params(command.config, network=network)  # raises if it does not fit
    as_key(command.seed, "--seed")
    preflight.check_tracking(command)
    parameters = sum(leaf.size for leaf in jax.tree.leaves(params))
    keeps = not isinstance(command, ESCommand)
    out = command.out if directory is None else directory
    preflight.check_size(command.config, runs, parameters, out, keeps, spec.num_agents)
    if directory is not None:
        return directory
    directory = rundirs.create_run_directory(command.out, command.name, prefix)
    options = {f.name: getattr(command, f.name) for f in dataclasses.fields(command)}
    options.pop("config")
    record = {"command": _name_of(command), "config": command.config.to_dict(), **options}
    rundirs.write_json(directory / "run.json", record)
    return directory


@contextlib.contextmanager
def _as_flags(command: Any) -> Iterator[None]:
    """The library names its arguments (`num_seeds=0: ...`); the command line names its flags
    (`--num-seeds=0: ...`)."""
    try:
        yield
    except ConfigError as error:
        field, sep, rest = str(error).partition("=")
        if sep and field in {f.name for f in dataclasses.fields(command)}:
            raise ConfigError(f"--{field.replace('_', '-')}={rest}") from None
        raise


def _name_of(command: Any) -> str:
    return next(name for name, kind in COMMANDS.items() if type(command) is kind)


def _divergence(summary: dict[str, Any], runs: int) -> int:
    """Say how many runs diverged; the exit status: EXIT_DIVERGED when all of them did."""
    count = summary["diverged_runs"]
    if count:
        print(f"purejaxppo: warning: {count} of {runs} runs diverged (losses, gradients or "
              f"parameters not finite from update {summary['first_nonfinite_update']} on); their "
              "returns are left out. Fix: a smaller learning rate or max_grad_norm.",
              file=sys.stderr)  # fmt: skip
    return EXIT_DIVERGED if count == runs else 0


def _print_run(result: Any, directory: Path) -> None:
    config = result.config
    print(f"{config.env_id}: {result.num_runs} runs x {config.env_steps:,} env steps")
    print(f"  final return     {result.final_return}")
    missing = result.summary()["runs_without_final_episode"]
    if missing:
        print(f"  ({missing} run(s) finished no episode in their final 5% and are left out)")
    if (agents := result.final_agent_returns) is not None:
        print(f"  per agent        {', '.join(f'{value:.2f}' for value in agents)}")
    if (rate := result.final_win_rate) is not None:
        print(f"  win rate         {rate}")
    print(f"  env steps        {result.env_steps:,}")
    print(f"  compile          {result.compile_seconds:.1f} s")
    speed = f"{result.steps_per_second:,.0f} env steps/s"
    print(f"  run              {result.run_seconds:.1f} s, {speed}")
    print(f"  devices          {', '.join(result.devices)}")
    print(f"  results          {directory}/")


def _train_options(command: TrainCommand) -> dict[str, Any]:
    """`train`'s options of the command (but the checkpoint directory), checked by the check
    `train` itself runs: before the run directory exists."""
    options = {
        "num_seeds": command.num_seeds, "max_runs_per_chunk": command.max_runs_per_chunk,
        "progress_every": command.progress_every, "segment_updates": command.segment_updates,
        "checkpoint_every": command.checkpoint_every,
    }  # fmt: skip
    with _as_flags(command):
        check_train_arguments(command.config, checkpoint_dir=True, **options)
    return {**options, "progress": not command.quiet, "key": command.seed, **hooks(command)}


def _track(command: TrainCommand, result: Any, directory: Path) -> None:
    """TensorBoard and/or wandb logs of the per-update means over runs, with the config."""
    if command.tensorboard:
        tracking.write_tensorboard(result.metrics, directory / "tensorboard")
    if command.wandb:
        config = {**command.config.to_dict(), "num_runs": result.num_runs, "seed": command.seed}
        tracking.write_wandb(result.metrics, config, directory, command.wandb_project,
                             directory.name, command.wandb_mode)  # fmt: skip


def run_train(command: TrainCommand, directory: Path | None = None) -> int:
    options = _train_options(command)
    resuming = directory is not None
    directory = _start(command, directory, command.config.env_id, command.num_seeds)

    def work() -> int:
        result = train(command.config, checkpoint_dir=directory / "checkpoints", **options)
        summary = results.write_train(result, directory)
        _track(command, result, directory)
        results.finish(directory, summary)
        _print_run(result, directory)
        return _divergence(summary, result.num_runs)

    return rundirs.guarded(directory, resuming, work)


def run_sweep(command: SweepCommand, directory: Path | None = None) -> int:
    space = parse_space(command.space)
    with _as_flags(command):
        settings = sample_settings(command.config, space, command.mode, command.num_samples)
    options = _train_options(command)
    resuming = directory is not None
    runs = len(settings) * command.num_seeds
    directory = _start(command, directory, command.config.env_id + "-sweep", runs)

    def work() -> int:
        result = sweep(command.config, space, mode=command.mode, num_samples=command.num_samples,
                       checkpoint_dir=directory / "checkpoints", **options)  # fmt: skip
        summary = results.write_sweep(result, directory)
        _track(command, result.result, directory)
        results.finish(directory, summary)
        shown = result.configs.sort_values("mean", ascending=False).head(10)
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        best = ", ".join(f"{n}={result.best[n]:.4g}" for n in result.names)
        print(f"best: {best} -> mean final return {result.best['mean']:.2f} "
              f"[{result.best['ci_low']:.2f}, {result.best['ci_high']:.2f}]")  # fmt: skip
        print(f"results: {directory}/")
        return _divergence(summary, result.result.num_runs)

    return rundirs.guarded(directory, resuming, work)


def run_pbt(command: PBTCommand, directory: Path | None = None) -> int:
    space = parse_space(command.space)
    options = {
        "population": command.population, "space": space, "interval": command.interval,
        "key": command.seed, "fraction": command.fraction,
        "resample_probability": command.resample_probability,
        "checkpoint_every": command.checkpoint_every, "progress_every": command.progress_every,
    }  # fmt: skip
    with _as_flags(command):
        check_pbt_arguments(command.config, **{k: v for k, v in options.items() if k != "key"})
    options.update(hooks(command))
    resuming = directory is not None
    directory = _start(command, directory, command.config.env_id + "-pbt", command.population)

    def work() -> int:
        result = pbt(command.config, progress=not command.quiet,
                     checkpoint_dir=directory / "checkpoints", **options)  # fmt: skip
        summary = results.write_pbt(result, directory)
        results.finish(directory, summary)
        low, high = summary["final_return_ci95"]
        print(f"{command.config.env_id}: PBT, {command.population} members, "
              f"{summary['generations']} generations")  # fmt: skip
        print(f"  final return     {summary['final_return_mean']:.2f} [{low:.2f}, {high:.2f}]")
        best = ", ".join(f"{k}={v:.4g}" for k, v in summary["best_member_hparams"].items())
        print(f"  best member      {summary['best_member']}: "
              f"{summary['best_member_final_return']:.2f} with {best}")  # fmt: skip
        print(f"  results          {directory}/ (hparams.csv, hparams.png)")
        return _divergence(summary, command.population)

    return rundirs.guarded(directory, resuming, work)


def run_es(command: ESCommand, directory: Path | None = None) -> int:
    space = parse_space(command.space)
    options = {
        "space": space, "population": command.population, "generations": command.generations,
        "num_seeds": command.num_seeds, "strategy": command.strategy, "key": command.seed,
        "fitness": command.fitness, "std_init": command.std_init,
        "segment_generations": command.segment_generations,
        "max_runs_per_chunk": command.max_runs_per_chunk,
        "checkpoint_every": command.checkpoint_every, "progress_every": command.progress_every,
    }  # fmt: skip
    # Every argument is checked before anything is created.
    with _as_flags(command):
        check_es_arguments(command.config, **{k: v for k, v in options.items() if k != "key"})
    options.update(hooks(command))
    resuming = directory is not None
    runs = command.population * command.num_seeds
    directory = _start(command, directory, command.config.env_id + "-es", runs)

    def work() -> int:
        result = es(command.config, progress=not command.quiet,
                    checkpoint_dir=directory / "checkpoints", **options)  # fmt: skip
        summary = results.write_es(result, directory)
        results.finish(directory, summary)
        print(f"{command.config.env_id}: {result.strategy}, {command.population} members x "
              f"{command.num_seeds} seeds, {command.generations} generations "
              f"({summary['generations_per_minute']:.2f} per minute)")  # fmt: skip
        generation, member = result.best_index
        print(f"  best             {result.best_fitness:.2f} ({command.fitness}, generation "
              f"{generation}, member {member}) with {_describe(result.best)}")  # fmt: skip
        print(f"  search mean      {_describe(result.final_mean)}")
        if summary["diverged_runs"]:
            print(f"  diverged runs    {summary['diverged_runs']} (ranked last)")
        print(f"  results          {directory}/ (es.csv, search.csv, es.png, best.json)")
        print("  confirm the best setting on held-out seeds: purejaxppo train ... --seed "
              f"{command.seed + 1}")  # fmt: skip
        runs = result.diverged.size
        return EXIT_DIVERGED if summary["diverged_runs"] == runs else 0

    return rundirs.guarded(directory, resuming, work)


def _describe(setting: dict[str, Any]) -> str:
    shown = []
    for name, value in setting.items():
        if name == "drift":
            shown.append("drift=(see best.json)")
        elif isinstance(value, float):
            shown.append(f"{name}={value:.4g}")
        else:
            shown.append(f"{name}=" + "/".join(f"{v:.3g}" for v in value))
    return ", ".join(shown)


def run_resume(command: ResumeCommand) -> int:
    record = rundirs.read_json(command.run_dir / "run.json")
    name = record.get("command")
    runners = {"train": run_train, "sweep": run_sweep, "pbt": run_pbt, "es": run_es}
    if name not in runners:
        raise ConfigError(
            f"{str(command.run_dir / 'run.json')!r}: command={name!r} cannot be resumed. Fix: "
            "pass a directory of purejaxppo train, sweep, pbt or es."
        )
    missing = results.missing_artefacts(command.run_dir, record)
    if not missing:
        print(f"{command.run_dir}: this run has finished; there is nothing to resume.")
        return 0
    if (command.run_dir / "summary.json").exists():
        print(f"{command.run_dir}: finished, but {', '.join(missing)} missing; writing the "
              "results again from the checkpoint.")  # fmt: skip
    record.pop("command")
    try:
        config = PPOConfig(**record.pop("config"))
        again = COMMANDS[name](config=config, **{**record, "quiet": command.quiet})
    except TypeError as error:
        raise ConfigError(
            f"{str(command.run_dir / 'run.json')!r} does not describe a run ({error}). Fix: "
            "restore it from a backup, or start the run again."
        ) from None
    return runners[name](again, command.run_dir)
