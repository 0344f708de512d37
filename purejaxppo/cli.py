"""Command line: `purejaxppo train` (every PPOConfig field is a flag)."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Annotated

import tyro

from purejaxppo.config import PPOConfig


@dataclasses.dataclass(frozen=True)
class TrainCommand:
    """Train num_seeds independent runs of a config in one compiled call and write the results."""

    config: Annotated[PPOConfig, tyro.conf.arg(name="")] = dataclasses.field(
        default_factory=PPOConfig
    )
    num_seeds: int = 64
    seed: int = 0
    out: Path = Path("runs")
    """Results go to OUT/ENV_ID-TIMESTAMP/: config.json, summary.json, metrics.csv."""


def write_results(result, directory: Path) -> None:
    """config.json, summary.json and metrics.csv (one row per run x update) in `directory`."""
    import jax

    from purejaxppo import __version__

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(result.config.to_dict(), indent=2) + "\n")
    summary = {**result.summary(), "purejaxppo": __version__, "jax": jax.__version__}
    (directory / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    names = list(result.metrics)
    with open(directory / "metrics.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "update", *names])
        columns = [result.metrics[name] for name in names]
        for run in range(result.num_runs):
            for update in range(result.config.num_updates):
                writer.writerow([run, update, *(column[run, update].item() for column in columns)])


def run_train(command: TrainCommand) -> int:
    import jax

    from purejaxppo.runner import train

    result = train(command.config, num_seeds=command.num_seeds, key=jax.random.key(command.seed))
    directory = command.out / f"{command.config.env_id}-{time.strftime('%Y%m%d-%H%M%S')}"
    write_results(result, directory)
    print(
        f"{command.config.env_id}: {result.num_runs} runs x {command.config.env_steps:,} env steps"
    )
    print(f"  final return     {result.final_return}")
    print(f"  env steps        {result.env_steps:,}")
    print(f"  compile          {result.compile_seconds:.1f} s")
    print(
        f"  run              {result.run_seconds:.1f} s, {result.steps_per_second:,.0f} env steps/s"
    )
    print(f"  devices          {', '.join(result.devices)}")
    print(f"  results          {directory}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    from purejaxppo.config import ConfigError
    from purejaxppo.devices import use_cpu_cores

    # Before anything starts JAX: one CPU device per core (ignored on accelerators).
    use_cpu_cores()
    try:
        command = tyro.extras.subcommand_cli_from_dict(
            {"train": TrainCommand}, args=argv, prog="purejaxppo"
        )
        return run_train(command)
    except ConfigError as error:
        print(f"purejaxppo: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
