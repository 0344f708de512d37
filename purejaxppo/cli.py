"""Command line: `purejaxppo {train,sweep,eval,envs,resume}`; every PPOConfig field is a flag."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Literal

import tyro

from purejaxppo.config import ConfigError, PPOConfig

USAGE = """usage: purejaxppo {train,sweep,eval,envs,resume} [--help] [OPTIONS]

  train    train many seeds of one config in one compiled call; writes a run directory
  sweep    train a grid or random sample of hyperparameters, all in one compiled call
  eval     evaluate the trained policies of a run directory (optionally write a GIF)
  envs     list the gymnax environments, their action spaces and presets
  resume   continue an interrupted `train` from its last checkpoint

`purejaxppo COMMAND --help` lists every option (`--env` is short for `--env-id`)."""

ConfigFlags = Annotated[PPOConfig, tyro.conf.arg(name="")]


@dataclasses.dataclass(frozen=True)
class TrainCommand:
    """Train num_seeds runs of a config in one compiled call and write a run directory."""

    config: ConfigFlags = dataclasses.field(default_factory=PPOConfig)
    preset: str | None = None
    """Start from a preset (an env id, see `purejaxppo envs`); other flags override it."""
    num_seeds: int = 64
    seed: int = 0
    out: Path = Path("runs")
    """The run directory is OUT/NAME."""
    name: str | None = None
    """Run directory name (default: ENV_ID-TIMESTAMP)."""
    quiet: bool = False
    """No progress bar."""
    progress_every: int = 10
    """Refresh the progress bar every this many updates (one host call for all runs)."""
    segment_updates: int = 100
    """Updates per compiled segment of the training loop."""
    checkpoint_every: int = 500
    """Save a checkpoint every this many updates (rounded up to whole segments) and on Ctrl-C."""
    max_runs_per_chunk: int | None = None
    """Runs trained at once (default: as many as fit in memory)."""
    tensorboard: bool = False
    """Also write TensorBoard scalars (needs the tensorboard extra)."""


@dataclasses.dataclass(frozen=True)
class SweepCommand:
    """Train every setting of a hyperparameter space, num_seeds each, in one compiled call."""

    space: tuple[str, ...]
    """NAME=v1,v2,... (values) or NAME=LOW:HIGH (a range; random mode), e.g.
    learning_rate=1e-4,3e-4,1e-3 gamma=0.9:0.999. Append :log or :linear to a range to choose."""
    config: ConfigFlags = dataclasses.field(default_factory=PPOConfig)
    preset: str | None = None
    """Start from a preset; other flags override it."""
    mode: Literal["grid", "random"] = "grid"
    num_samples: int | None = None
    """Settings to draw in random mode."""
    num_seeds: int = 8
    seed: int = 0
    out: Path = Path("runs")
    name: str | None = None
    quiet: bool = False
    max_runs_per_chunk: int | None = None


@dataclasses.dataclass(frozen=True)
class EvalCommand:
    """Evaluate every run's final policy; prints the mean return with a 95% interval over runs."""

    run_dir: tyro.conf.Positional[Path]
    num_episodes: int = 10
    stochastic: bool = False
    """Sample actions instead of taking the policy's mode."""
    seed: int = 0
    gif: Path | None = None
    """Write an animation of one episode of run 0 (environments gymnax can render)."""


@dataclasses.dataclass(frozen=True)
class EnvsCommand:
    """List the gymnax environments with their action spaces and presets."""


@dataclasses.dataclass(frozen=True)
class ResumeCommand:
    """Continue an interrupted `purejaxppo train` from its last checkpoint."""

    run_dir: tyro.conf.Positional[Path]
    quiet: bool = False


COMMANDS = {
    "train": TrainCommand,
    "sweep": SweepCommand,
    "eval": EvalCommand,
    "envs": EnvsCommand,
    "resume": ResumeCommand,
}


def _pop_preset(args: list[str]) -> tuple[str | None, list[str]]:
    """Take `--preset NAME` out of args: it sets defaults that the other flags then override."""
    rest, preset, i = [], None, 0
    while i < len(args):
        if args[i] == "--preset" and i + 1 < len(args):
            preset, i = args[i + 1], i + 2
        elif args[i].startswith("--preset="):
            preset, i = args[i].split("=", 1)[1], i + 1
        else:
            rest.append(args[i])
            i += 1
    return preset, rest


def _expand_aliases(args: list[str]) -> list[str]:
    """`--env X` is short for `--env-id X` (the flag people type first)."""
    expanded = []
    for arg in args:
        if arg == "--env":
            arg = "--env-id"
        elif arg.startswith("--env="):
            arg = "--env-id=" + arg.split("=", 1)[1]
        expanded.append(arg)
    return expanded


def _run_directory(out: Path, name: str | None, env_id: str) -> Path:
    return out / (name or f"{env_id}-{time.strftime('%Y%m%d-%H%M%S')}")


def _print_summary(result, directory: Path) -> None:
    config = result.config
    print(f"{config.env_id}: {result.num_runs} runs x {config.env_steps:,} env steps")
    print(f"  final return     {result.final_return}")
    print(f"  env steps        {result.env_steps:,}")
    print(f"  compile          {result.compile_seconds:.1f} s")
    print(
        f"  run              {result.run_seconds:.1f} s, {result.steps_per_second:,.0f} env steps/s"
    )
    print(f"  devices          {', '.join(result.devices)}")
    print(f"  results          {directory}/")


def run_train(command: TrainCommand, directory: Path | None = None) -> int:
    from purejaxppo.results import write_run, write_tensorboard
    from purejaxppo.runner import train

    directory = directory or _run_directory(command.out, command.name, command.config.env_id)
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "command": "train",
        "config": command.config.to_dict(),
        **{
            f.name: getattr(command, f.name)
            for f in dataclasses.fields(command)
            if f.name not in ("config", "out", "name")
        },
    }
    (directory / "run.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    try:
        result = train(
            command.config,
            num_seeds=command.num_seeds,
            key=command.seed,
            progress=not command.quiet,
            checkpoint_dir=directory / "checkpoints",
            segment_updates=command.segment_updates,
            checkpoint_every=command.checkpoint_every,
            max_runs_per_chunk=command.max_runs_per_chunk,
            progress_every=command.progress_every,
        )
    except KeyboardInterrupt:
        print(f"\ninterrupted; checkpoint saved. Continue with: purejaxppo resume {directory}")
        return 130
    write_run(result, directory)
    if command.tensorboard:
        write_tensorboard(result, directory / "tensorboard")
    _print_summary(result, directory)
    return 0


def run_resume(command: ResumeCommand) -> int:
    record_path = command.run_dir / "run.json"
    if not record_path.exists():
        raise ConfigError(
            f"run_dir={str(command.run_dir)!r}: no run.json there. Fix: pass the directory that "
            "`purejaxppo train` printed or created."
        )
    record = json.loads(record_path.read_text())
    record.pop("command", None)
    config = PPOConfig(**record.pop("config"))
    record["quiet"] = command.quiet
    return run_train(TrainCommand(config=config, **record), directory=command.run_dir)


def parse_space(entries: tuple[str, ...]):
    """`NAME=v1,v2` -> list of floats; `NAME=LOW:HIGH[:log|:linear]` -> Range."""
    from purejaxppo.sweep import Range

    space = {}
    for entry in entries:
        name, sep, text = entry.partition("=")
        try:
            if not sep:
                raise ValueError
            if ":" in text:
                parts = text.split(":")
                log = {"log": True, "linear": False}[parts[2]] if len(parts) == 3 else None
                if len(parts) not in (2, 3):
                    raise ValueError
                space[name] = Range(float(parts[0]), float(parts[1]), log)
            else:
                space[name] = [float(v) for v in text.split(",")]
        except (ValueError, KeyError):
            raise ConfigError(
                f"--space {entry!r}: cannot read it. Fix: NAME=v1,v2,... or NAME=LOW:HIGH "
                "(optionally :log or :linear), e.g. learning_rate=1e-4,3e-4."
            ) from None
    return space


def run_sweep(command: SweepCommand) -> int:
    from purejaxppo.results import metrics_frame, plot_learning_curves
    from purejaxppo.sweep import sweep

    space = parse_space(command.space)
    result = sweep(
        command.config, space, num_seeds=command.num_seeds, mode=command.mode,
        num_samples=command.num_samples, key=command.seed, progress=not command.quiet,
        max_runs_per_chunk=command.max_runs_per_chunk,
    )  # fmt: skip
    directory = _run_directory(command.out, command.name, command.config.env_id + "-sweep")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(command.config.to_dict(), indent=2) + "\n")
    result.runs.to_csv(directory / "runs.csv", index=False)
    result.configs.to_csv(directory / "configs.csv", index=False)
    metrics_frame(result.result).to_csv(directory / "metrics.csv", index=False)
    (directory / "best.json").write_text(result.best.to_json(indent=2) + "\n")
    names = list(space)
    labels = [", ".join(f"{n}={row[n]:.3g}" for n in names) for _, row in result.configs.iterrows()]
    plot_learning_curves(result.result, directory / "learning_curve.png", labels)
    shown = result.configs.sort_values("mean", ascending=False).head(10)
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    best = ", ".join(f"{n}={result.best[n]:.4g}" for n in names)
    print(f"best: {best} -> mean final return {result.best['mean']:.2f} "
          f"[{result.best['ci_low']:.2f}, {result.best['ci_high']:.2f}]")  # fmt: skip
    print(f"results: {directory}/")
    return 0


def run_eval(command: EvalCommand) -> int:
    import jax

    from purejaxppo.envs import make_env
    from purejaxppo.evaluate import episode_states, evaluate
    from purejaxppo.results import load_final
    from purejaxppo.stats import mean_interval

    if not (command.run_dir / "final").exists():
        raise ConfigError(
            f"run_dir={str(command.run_dir)!r}: no trained policies (final/) there. Fix: pass a "
            "directory written by a finished `purejaxppo train` (or resume it first)."
        )
    config, params, obs_stats = load_final(command.run_dir)
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
    report = {
        "num_runs": int(per_run.shape[0]),
        "num_episodes": command.num_episodes,
        "deterministic": not command.stochastic,
        "mean_return": interval.mean,
        "ci95": [interval.low, interval.high],
        "per_run_mean_return": per_run.tolist(),
    }
    (command.run_dir / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    if command.gif is not None:
        # gymnax draws classic control with pygame (the render extra); no window, no sound.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        from gymnax.visualize import Visualizer

        run_params, run_stats = jax.tree.map(lambda x: x[0], (params, obs_stats))
        states = episode_states(config, run_params, jax.random.key(command.seed), run_stats)
        env, env_params = make_env(config.env_id)
        try:
            Visualizer(env, env_params, states).animate(str(command.gif))
        except Exception as error:  # gymnax raises various errors for envs it cannot draw
            cause = error.__context__ or error
            raise ConfigError(
                f"--gif: gymnax cannot render {config.env_id} ({type(cause).__name__}: {cause}). "
                "Fix: pip install 'purejaxppo[render]' for classic control, or drop --gif."
            ) from error
        print(f"  animation        {command.gif} ({len(states)} steps)")
    return 0


def run_envs(command: EnvsCommand) -> int:
    import gymnax

    from purejaxppo.envs import describe_env_id
    from purejaxppo.presets import PRESETS

    print(f"{'environment':28s} {'actions':24s} {'observation':14s} preset")
    for env_id in gymnax.registered_envs:
        try:
            spec = describe_env_id(env_id)
        except ConfigError:
            print(f"{env_id:28s} (cannot be built here: it downloads data)")
            continue
        actions = f"Discrete({spec.num_actions})" if spec.discrete else f"Box({spec.num_actions})"
        preset = PRESETS.get(env_id)
        described = preset.describe() if preset else "-"
        obs = f"Discrete({spec.obs_categories})" if spec.obs_categories else str(spec.obs_shape)
        print(f"{env_id:28s} {actions:24s} {obs:14s} {described}")
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
        described = preset.describe() if preset else "-"
        print(f"{name + '-brax':28s} {described}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from purejaxppo.devices import use_cpu_cores

    # Before anything starts JAX: one CPU device per core (ignored on accelerators).
    use_cpu_cores()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    name, rest = args[0], _expand_aliases(args[1:])
    if name not in COMMANDS:
        print(f"purejaxppo: error: unknown command {name!r}.\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        preset_name, rest = _pop_preset(rest) if name in ("train", "sweep") else (None, rest)
        default = None
        if preset_name is not None:
            from purejaxppo.presets import preset

            command_type = COMMANDS[name]
            fields = {"config": preset(preset_name), "preset": preset_name}
            if name == "sweep":
                fields["space"] = ()
            default = command_type(**fields)
        command = tyro.cli(COMMANDS[name], args=rest, prog=f"purejaxppo {name}", default=default)
        runner = {
            "train": run_train, "sweep": run_sweep, "eval": run_eval,
            "envs": run_envs, "resume": run_resume,
        }[name]  # fmt: skip
        return runner(command)
    except ConfigError as error:
        print(f"purejaxppo: error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:
        print(f"purejaxppo: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
