"""The aggregate row of BENCHMARKS.md's returns table: IQM, median, mean and optimality gap of
normalised final returns over several presets, with rliable's stratified-bootstrap 95% intervals
(`purejaxppo.outputs.aggregate`), from the per-run final returns that benchmarks/returns.py
records in its JSON files (rows with `final_returns`, presets as they are: no --set changes).

Normalised as `purejaxppo report --normalize random` does: 0 is a uniformly random policy
(benchmarks/random_scores.py), 1 the preset's published reference.

    python benchmarks/aggregate_returns.py benchmarks/results/returns-cpu-classic.json
    python benchmarks/aggregate_returns.py results/a.json results/b.json --envs CartPole-v1 ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from purejaxppo.outputs import aggregate as agg
from purejaxppo.outputs.report import normalised, reference_scores


def rows_of(paths: list[Path], envs: list[str] | None) -> tuple[pd.DataFrame, set[str]]:
    """One row per run (task, final_return, diverged) from the newest row per env, and the
    devices they were measured on."""
    kept, devices = {}, set()
    for path in paths:
        record = json.loads(path.read_text())
        for row in record["rows"]:
            if row.get("changes") or "final_returns" not in row:
                continue
            if envs is None or row["env_id"] in envs:
                kept[row["env_id"]] = row
                devices.add(record["device"])
    frames = [
        pd.DataFrame(
            {
                "group": "purejaxppo",
                "task": env_id,
                "run": np.arange(len(r["final_returns"])),
                "final_return": np.asarray(r["final_returns"], np.float64),
            }
        )
        for env_id, r in kept.items()
    ]
    frame = pd.concat(frames, ignore_index=True)
    frame["diverged"] = ~np.isfinite(frame.final_return)  # the recorder keeps no other reason
    return frame, devices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--envs", nargs="+", help="only these env ids (default: every row)")
    parser.add_argument("--reps", type=int, default=agg.REPS)
    args = parser.parse_args()
    frame, devices = rows_of(args.files, args.envs)
    frame["score"] = normalised(frame, "random", reference_scores())
    tasks = sorted(frame.task.unique())
    scores = agg.equalised(frame, tasks, "purejaxppo")
    row = agg.aggregate({"purejaxppo": scores}, args.reps).iloc[0]

    def cell(metric: str) -> str:
        return f"{row[metric]:.3f} [{row[metric + '_low']:.3f}, {row[metric + '_high']:.3f}]"

    print(f"tasks: {', '.join(tasks)}; devices: {'; '.join(sorted(devices))}")
    print("| IQM | median | mean | optimality gap | runs x tasks |")
    print("|---|---|---|---|---|")
    print(
        f"| {cell('iqm')} | {cell('median')} | {cell('mean')} | {cell('optimality_gap')} | "
        f"{row['runs']} x {row['tasks']} |"
    )


if __name__ == "__main__":
    main()
