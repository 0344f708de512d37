"""What a training command checks before any work, beyond its arguments: that the optional
tracking extras it was asked for import, and that what it will write fits on the disk (a large
job says up front how much that is)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from purejaxppo.base.errors import ConfigError
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.trainer import METRIC_NAMES
from purejaxppo.outputs import tracking
from purejaxppo.outputs.rundirs import existing_ancestor

# Bytes of one metrics.csv field as text; a row holds run/setting/seed/update and every metric.
CSV_FIELD_BYTES = 12
# Copies of the parameters a run keeps on disk: final/, and in each of the two checkpoints kept,
# the parameters with Adam's two moments.
PARAMETER_COPIES = 1 + 2 * 3
LARGE_BYTES = 2**30  # a job writing more than this says so before it starts


def check_tracking(command: Any) -> None:
    for tool in ("tensorboard", "wandb"):
        if getattr(command, tool, False):
            tracking.require(tool)


def output_bytes(
    config: PPOConfig, runs: int, parameters: int, keeps_params: bool, agents: int = 0
) -> int:
    """About how many bytes the run directory of `runs` runs of `config` will hold: metrics.csv,
    the per-update metrics in the checkpoints, and the parameters (final/ and checkpoints).
    A multi-agent env's `agents` add a metric each (their own returns)."""
    metrics = len(METRIC_NAMES) + agents
    per_run = config.num_updates * (CSV_FIELD_BYTES * (4 + metrics) + 4 * metrics)
    if keeps_params:
        per_run += 4 * parameters * PARAMETER_COPIES
    return runs * per_run


def check_size(
    config: PPOConfig, runs: int, parameters: int, out: Path, keeps_params: bool, agents: int = 0
) -> None:
    """Refuse a job whose results will not fit on the disk of `out`; say how large a large one
    is before it starts (its time: the progress bar's ETA, once the first segment has run)."""
    needed = output_bytes(config, runs, parameters, keeps_params, agents)
    free = shutil.disk_usage(existing_ancestor(out)).free
    if needed > free:
        raise ConfigError(
            f"{runs} runs of {config.env_steps:,} env steps would write about "
            f"{needed / 2**30:.1f} GiB into {str(out)!r}, which has {free / 2**30:.1f} GiB free. "
            "Fix: fewer runs (--num-seeds), a shorter run, or another --out."
        )
    if needed > LARGE_BYTES:
        print(f"purejaxppo: {runs} runs x {config.env_steps:,} env steps "
              f"({runs * config.env_steps:,} in all) will write about {needed / 2**30:.1f} GiB "
              f"({free / 2**30:.0f} GiB free); the progress bar estimates the time once the "
              "first segment has run.", file=sys.stderr)  # fmt: skip
