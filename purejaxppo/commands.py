"""What each command line command does: check everything, create the run directory, call the
library, write the results (through `results`) and print a summary.

Nothing is created before every argument has been checked; a run directory is created
exclusively, and removed again if the command fails before it saved anything worth resuming.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from purejaxppo import results
from purejaxppo.config import PPOConfig
from purejaxppo.errors import ConfigError, check_positive_int
from purejaxppo.interrupt import Interrupted
from purejaxppo.options import (
    COMMANDS,
    BenchCommand,
    EnvsCommand,
    EvalCommand,
    PBTCommand,
    ResumeCommand,
    SweepCommand,
    TrainCommand,
)
from purejaxppo.space import parse_space

EXIT_DIVERGED = 3


def _start(command: Any, directory: Path | None, prefix: str) -> Path:
    """The run directory: a new one (created exclusively, with run.json) or `directory` when
    resuming. The config is checked against its environment first."""
    from purejaxppo.trainer import make_train_functions

    make_train_functions(command.config)  # raises if the config does not fit its environment
    if directory is not None:
        return directory
    directory = results.create_run_directory(command.out, command.name, prefix)
    options = {f.name: getattr(command, f.name) for f in dataclasses.fields(command)}
    options.pop("config")
    record = {"command": _name_of(command), "config": command.config.to_dict(), **options}
    results.write_json(directory / "run.json", record)
    return directory


def _name_of(command: Any) -> str:
    return next(name for name, kind in COMMANDS.items() if type(command) is kind)


def _guarded(directory: Path, resuming: bool, work: Callable[[], int]) -> int:
    """Run `work`; on Ctrl-C or SIGTERM say how to resume; on a failure of a new run that saved
    no checkpoint, remove its directory so that nothing half-written is left."""
    try:
        return work()
    except Interrupted as stop:
        print(f"\ninterrupted; checkpoint saved. Continue with: purejaxppo resume {directory}")
        return 128 + stop.signum
    except BaseException:
        saved = directory / "checkpoints" / "state"
        if not resuming and not (saved.exists() and any(saved.iterdir())):
            shutil.rmtree(directory, ignore_errors=True)
        raise


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
    print(f"  env steps        {result.env_steps:,}")
    print(f"  compile          {result.compile_seconds:.1f} s")
    speed = f"{result.steps_per_second:,.0f} env steps/s"
    print(f"  run              {result.run_seconds:.1f} s, {speed}")
    print(f"  devices          {', '.join(result.devices)}")
    print(f"  results          {directory}/")


def _train_options(command: TrainCommand, directory: Path) -> dict[str, Any]:
    from purejaxppo.runs import segment_plan

    check_positive_int("--num-seeds", command.num_seeds, 64)
    check_positive_int("--progress-every", command.progress_every, 10)
    check_positive_int("--max-runs-per-chunk", command.max_runs_per_chunk, 256, allow_none=True)
    segment_plan(command.config, True, command.segment_updates, command.checkpoint_every)
    return {
        "progress": not command.quiet, "checkpoint_dir": directory / "checkpoints",
        "segment_updates": command.segment_updates, "checkpoint_every": command.checkpoint_every,
        "max_runs_per_chunk": command.max_runs_per_chunk,
        "progress_every": command.progress_every,
    }  # fmt: skip


def run_train(command: TrainCommand, directory: Path | None = None) -> int:
    from purejaxppo.runs import train

    _train_options(command, Path("."))  # check before creating anything
    resuming = directory is not None
    directory = _start(command, directory, command.config.env_id)

    def work() -> int:
        result = train(command.config, num_seeds=command.num_seeds, key=command.seed,
                       **_train_options(command, directory))  # fmt: skip
        results.write_train(result, directory, tensorboard=command.tensorboard)
        _print_run(result, directory)
        return _divergence(result.summary(), result.num_runs)

    return _guarded(directory, resuming, work)


def run_sweep(command: SweepCommand, directory: Path | None = None) -> int:
    from purejaxppo.space import sample_settings
    from purejaxppo.sweeps import sweep

    space = parse_space(command.space)
    sample_settings(command.config, space, command.mode, command.num_samples)  # checks
    _train_options(command, Path("."))
    resuming = directory is not None
    directory = _start(command, directory, command.config.env_id + "-sweep")

    def work() -> int:
        result = sweep(
            command.config, space, num_seeds=command.num_seeds, mode=command.mode,
            num_samples=command.num_samples, key=command.seed,
            **_train_options(command, directory),
        )  # fmt: skip
        results.write_sweep(result, directory)
        shown = result.configs.sort_values("mean", ascending=False).head(10)
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        best = ", ".join(f"{n}={result.best[n]:.4g}" for n in result.names)
        print(f"best: {best} -> mean final return {result.best['mean']:.2f} "
              f"[{result.best['ci_low']:.2f}, {result.best['ci_high']:.2f}]")  # fmt: skip
        print(f"results: {directory}/")
        return _divergence(result.result.summary(), result.result.num_runs)

    return _guarded(directory, resuming, work)


def run_pbt(command: PBTCommand, directory: Path | None = None) -> int:
    from purejaxppo.population import pbt

    space = parse_space(command.space)
    options = {
        "population": command.population, "space": space, "interval": command.interval,
        "key": command.seed, "fraction": command.fraction,
        "resample_probability": command.resample_probability,
        "checkpoint_every": command.checkpoint_every, "progress_every": command.progress_every,
    }  # fmt: skip
    resuming = directory is not None
    directory = _start(command, directory, command.config.env_id + "-pbt")

    def work() -> int:
        result = pbt(command.config, progress=not command.quiet,
                     checkpoint_dir=directory / "checkpoints", **options)  # fmt: skip
        results.write_pbt(result, directory)
        summary = results.pbt_summary(result)
        low, high = summary["final_return_ci95"]
        print(f"{command.config.env_id}: PBT, {command.population} members, "
              f"{summary['generations']} generations")  # fmt: skip
        print(f"  final return     {summary['final_return_mean']:.2f} [{low:.2f}, {high:.2f}]")
        best = ", ".join(f"{k}={v:.4g}" for k, v in summary["best_member_hparams"].items())
        print(f"  best member      {summary['best_member']}: "
              f"{summary['best_member_final_return']:.2f} with {best}")  # fmt: skip
        print(f"  results          {directory}/ (hparams.csv, hparams.png)")
        return _divergence(summary, command.population)

    return _guarded(directory, resuming, work)


def run_resume(command: ResumeCommand) -> int:
    record = results.read_json(command.run_dir / "run.json")
    if (command.run_dir / "summary.json").exists():
        print(f"{command.run_dir}: this run has finished; there is nothing to resume.")
        return 0
    name = record.pop("command", None)
    if name not in ("train", "sweep", "pbt"):
        raise ConfigError(
            f"{str(command.run_dir / 'run.json')!r}: command={name!r} cannot be resumed. Fix: "
            "pass a directory of purejaxppo train, sweep or pbt."
        )
    try:
        config = PPOConfig(**record.pop("config"))
        again = COMMANDS[name](config=config, **{**record, "quiet": command.quiet})
    except TypeError as error:
        raise ConfigError(
            f"{str(command.run_dir / 'run.json')!r} does not describe a run ({error}). Fix: "
            "restore it from a backup, or start the run again."
        ) from None
    return {"train": run_train, "sweep": run_sweep, "pbt": run_pbt}[name](again, command.run_dir)


def run_eval(command: EvalCommand) -> int:
    import jax

    from purejaxppo.evaluation import evaluate, render_gif
    from purejaxppo.stats import mean_interval

    check_positive_int("--num-episodes", command.num_episodes, 10)
    config, params, obs_stats = results.load_final(command.run_dir)
    result = evaluate(
        config, params, key=command.seed, num_episodes=command.num_episodes,
        deterministic=not command.stochastic, obs_stats=obs_stats,
    )  # fmt: skip
    per_run = result.returns.mean(axis=-1)
    interval = mean_interval(per_run)
    mode = "stochastic" if command.stochastic else "deterministic"
    print(f"{config.env_id}: {per_run.shape[0]} runs x {command.num_episodes} {mode} episodes")
    print(f"  mean return      {interval}")
    print(f"  episode length   {result.lengths.mean():.1f}")
    results.write_json(
        command.run_dir / "eval.json",
        {"num_runs": int(per_run.shape[0]), "num_episodes": command.num_episodes,
         "deterministic": not command.stochastic, "mean_return": interval.mean,
         "ci95": [interval.low, interval.high], "per_run_mean_return": per_run.tolist()},
    )  # fmt: skip
    if command.gif is not None:
        first = jax.tree.map(lambda x: x[0], (params, obs_stats))
        steps = render_gif(config, *first, command.gif, command.seed)
        print(f"  animation        {command.gif} ({steps} steps)")
    return 0


def run_envs(command: EnvsCommand) -> int:
    from purejaxppo.envs import describe_env_id, registered_env_ids
    from purejaxppo.presets import PRESETS

    print(f"{'environment':28s} {'actions':16s} {'observation':14s} preset")
    for env_id in registered_env_ids():
        try:
            spec = describe_env_id(env_id)
        except ConfigError:
            print(f"{env_id:28s} (cannot be built here: it downloads data)")
            continue
        actions = f"Discrete({spec.num_actions})" if spec.discrete else f"Box({spec.num_actions})"
        preset = PRESETS.get(env_id)
        obs = f"Discrete({spec.obs_categories})" if spec.obs_categories else str(spec.obs_shape)
        print(f"{env_id:28s} {actions:16s} {obs:14s} {preset.describe() if preset else '-'}")
    try:
        from purejaxppo.brax_env import brax_env_names

        names = brax_env_names()
    except ConfigError:
        print("Brax environments (NAME-brax): pip install 'purejaxppo[brax]' to list and use them")
        return 0
    # Building a Brax system takes seconds, so its spaces are not read here.
    print("\nBrax environments, as NAME-brax or NAME-brax-BACKEND (Box actions in [-1, 1]):")
    for name in names:
        preset = PRESETS.get(f"{name}-brax")
        print(f"{name + '-brax':28s} {preset.describe() if preset else '-'}")
    return 0


def run_bench(command: BenchCommand) -> int:
    from purejaxppo.bench import run_table

    for seeds in command.seeds:
        check_positive_int("--seeds", seeds, 64)
    table = run_table(command.env_id, list(command.seeds), command.total_timesteps, command.out)
    print(table, file=sys.stdout)
    return 0
