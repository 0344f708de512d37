"""The command line's commands and their options, as tyro dataclasses (declarations only)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

import tyro

from purejaxppo.core.config import PPOConfig

ConfigFlags = Annotated[PPOConfig, tyro.conf.arg(name="")]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What every training command shares."""

    config: ConfigFlags = dataclasses.field(default_factory=PPOConfig)
    preset: str | None = None
    """Start from a preset (an env id, see `purejaxppo envs`); other flags override it."""
    preset_for_another_env: bool = False
    """Let --preset's settings train another --env-id (refused otherwise: they were tuned for
    the preset's own environment)."""
    seed: int = 0
    out: Path = Path("runs")
    """The run directory is OUT/NAME."""
    name: str | None = None
    """Run directory name (default: a new ENV_ID-TIMESTAMP-SUFFIX); must not exist yet."""
    quiet: bool = False
    """No progress bar."""
    progress_every: int = 10
    """Refresh the progress bar every this many updates (one host call for all runs)."""
    network_module: str | None = None
    """MODULE:NAME of a network of yours (a flax Module; a class is built with no arguments),
    instead of --network (docs/extending.md)."""
    objective_function: str | None = None
    """MODULE:NAME of a policy objective f(log_ratio, advantages, hparams)."""
    randomize: str | None = None
    """MODULE:NAME of f(key, env_params) -> env_params, drawn at every episode reset."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainCommand(RunOptions):
    """Train num_seeds runs of a config in one compiled call and write a run directory."""

    num_seeds: int = 64
    segment_updates: int = 100
    """Updates per compiled segment of the training loop."""
    checkpoint_every: int = 500
    """Save a checkpoint every this many updates (a multiple of --segment-updates) and on
    Ctrl-C or SIGTERM."""
    max_runs_per_chunk: int | None = None
    """Runs trained at once (default: as many as fit in memory)."""
    tensorboard: bool = False
    """Also write TensorBoard scalars to RUN_DIR/tensorboard (the tensorboard extra)."""
    wandb: bool = False
    """Also log to Weights & Biases, files in RUN_DIR/wandb (the wandb extra)."""
    wandb_project: str = "purejaxppo"
    wandb_mode: Literal["offline", "online"] = "offline"
    """offline needs no network or account (upload later with `wandb sync`)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepCommand(TrainCommand):
    """Train every setting of a hyperparameter space, num_seeds each, in one compiled call."""

    space: tuple[str, ...]
    """NAME=v1,v2,... (values) or NAME=LOW:HIGH (a range; random mode), e.g.
    learning_rate=1e-4,3e-4,1e-3 gamma=0.9:0.999. Append :log or :linear to a range."""
    mode: Literal["grid", "random"] = "grid"
    num_samples: int | None = None
    """Settings to draw in random mode."""
    num_seeds: int = 8


@dataclasses.dataclass(frozen=True, kw_only=True)
class PBTCommand(RunOptions):
    """Population-based training; writes the run directory plus hyperparameter trajectories."""

    space: tuple[str, ...] = ("learning_rate=1e-4:1e-3",)
    """Hyperparameters PBT may change, as for sweep (values or LOW:HIGH ranges)."""
    population: int = 16
    interval: int = 20
    """Updates per generation."""
    fraction: float = 0.25
    """Share of the population replaced after each generation (and of donors)."""
    resample_probability: float = 0.25
    checkpoint_every: int = 10
    """Save a checkpoint every this many generations and on Ctrl-C or SIGTERM."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ESCommand(RunOptions):
    """Evolution strategy (evosax) over hyperparameters: each generation trains population x
    num_seeds runs from scratch in one compiled call; generations run in compiled segments."""

    space: tuple[str, ...] = ("learning_rate=1e-4:1e-2",)
    """Fields to search: NAME=LOW:HIGH (optionally :log or :linear; a schedule's knots each),
    or drift=free (the learned drift's parameters, with --objective learned_drift)."""
    strategy: Literal["CMA_ES", "Sep_CMA_ES", "SNES", "xNES", "Open_ES"] = "CMA_ES"
    population: int = 16
    generations: int = 10
    num_seeds: int = 4
    """Seeds per member; a member's fitness is the mean over them."""
    fitness: Literal["final_return", "area_under_curve"] = "final_return"
    std_init: float = 0.5
    """Initial search std in z units (a sigmoid's input for a range)."""
    segment_generations: int = 1
    """Generations per compiled segment (one compiled scan each); a checkpoint may follow each."""
    max_runs_per_chunk: int | None = None
    """Runs trained at once (default: as many as fit; the rest of a generation waits its turn)."""
    checkpoint_every: int = 1
    """Save a checkpoint every this many segments and on Ctrl-C or SIGTERM."""


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
    """List the environments with their action and observation spaces and presets."""


@dataclasses.dataclass(frozen=True)
class ResumeCommand:
    """Continue an interrupted train, sweep, pbt or es from its last checkpoint."""

    run_dir: tyro.conf.Positional[Path]
    quiet: bool = False


@dataclasses.dataclass(frozen=True)
class BenchCommand:
    """Training env steps/s for 1 .. N vmapped seeds (each in a fresh process), next to the
    rollout-only limit, with compile time and memory; names the device and writes a table."""

    seeds: tuple[int, ...] = (1, 8, 64, 256)
    env_id: str = "CartPole-v1"
    total_timesteps: int = 500_000
    """Per seed."""
    out: Path = Path("benchmarks/results/throughput.md")


@dataclasses.dataclass(frozen=True)
class ReportCommand:
    """Aggregate final returns over environments the way papers do (rliable): IQM, median, mean
    and optimality gap of normalised scores with stratified-bootstrap intervals, performance
    profiles and the probability of improvement between groups."""

    sources: tyro.conf.Positional[tuple[str, ...]]
    """Run directories of train, sweep, pbt or es. GROUP=DIR puts DIR in group GROUP; a bare DIR
    is grouped by its parent directory's name; a sweep gives a group per configuration."""
    out: Path = Path("report")
    """Where aggregate.csv, scores.csv, profiles.png, improvement.png and report.md go."""
    normalize: Literal["random", "preset", "none"] = "random"
    """random: (x - random policy) / (reference - random policy); preset: x / reference; none:
    raw returns (one environment only). Random and reference returns are recorded per preset."""
    compare: tuple[str, ...] | None = None
    """Two groups: P(first > second) (default: between the groups, up to 6 pairs)."""
    scores: Path | None = None
    """A CSV with columns env_id, random, reference: scores for envs without a preset, or
    others than ours."""
    reps: int = 2000
    """Bootstrap resamples."""
    seed: int = 0


COMMANDS = {
    "train": TrainCommand, "sweep": SweepCommand, "pbt": PBTCommand, "es": ESCommand,
    "eval": EvalCommand, "envs": EnvsCommand, "resume": ResumeCommand, "bench": BenchCommand,
    "report": ReportCommand,
}  # fmt: skip
