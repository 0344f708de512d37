"""Final returns per environment with its preset, against the published references.

Each environment trains with its preset (`purejaxppo/core/presets.json`) over N seeds in one vmapped
call. The table gives the budget, our final return (each run's mean over the episodes of its
last 5% of updates; mean over seeds with a 95% percentile-bootstrap interval, and the IQM), the
published reference and its source, whether we reach it, wall time (compile + run) and device.
Rows are written as they finish, so a run cut short keeps its table.

    python benchmarks/returns.py                                  # the default list, 16 seeds
    python benchmarks/returns.py --envs CartPole-v1 MemoryChain-bsuite --seeds 8
    python benchmarks/returns.py --envs all                       # every preset
    python benchmarks/returns.py --record        # add the rows to results/presets-measured.json
    python benchmarks/returns.py --envs Breakout-MinAtar --set gamma=0.999 network=cnn
    python benchmarks/returns.py --envs Pendulum-v1 --key 1       # 16 other seeds

`--set FIELD=VALUE` (VALUE is JSON; a bare word is taken as a string) trains a variant of each
preset; the row names the changes (copy them into presets.json by hand to adopt them).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any

from purejaxppo.cli.bench import describe_device, save_text

DEFAULT_ENVS = [
    "CartPole-v1",
    "Acrobot-v1",
    "Pendulum-v1",
    "MemoryChain-bsuite",
    "Breakout-MinAtar",
    "SpaceInvaders-MinAtar",
]
MEASURED_FILE = Path(__file__).resolve().parent / "results" / "presets-measured.json"


def parse_changes(pairs: list[str]) -> dict[str, Any]:
    """["gamma=0.999", "actor_hidden=[256,256]", "network=mlp"] -> {field: value}."""
    from purejaxppo.core.config import PPOConfig

    fields = {f.name for f in dataclasses.fields(PPOConfig)}
    changes = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or name not in fields:
            sys.exit(
                f"--set {pair!r}: expected FIELD=VALUE with FIELD a PPOConfig field. "
                f"Fix: use one of {', '.join(sorted(fields))}."
            )
        try:
            changes[name] = json.loads(text)
        except json.JSONDecodeError:
            changes[name] = text
    return changes


def describe_changes(changes: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in changes.items())


def measure(env_id: str, seeds: int, changes: dict[str, Any] | None = None, key: int = 0) -> dict:
    import numpy as np

    import purejaxppo
    from purejaxppo.core.presets import PRESETS
    from purejaxppo.search.stats import iqm

    entry = PRESETS[env_id]
    changes = changes or {}
    config = purejaxppo.preset(env_id, **changes)
    start = time.perf_counter()
    result = purejaxppo.train(config, num_seeds=seeds, key=key)
    wall = time.perf_counter() - start
    interval = result.final_return
    reference = entry.reference or {}
    wins = np.asarray(result.metrics["win_rate"])  # [runs, updates]; NaN without wins
    last = wins[:, -max(1, wins.shape[1] // 20) :]
    win_rate = float(np.nanmean(last)) if np.isfinite(last).any() else None
    value = reference.get("value")
    return {
        "env_id": env_id,
        "changes": changes,
        "network": config.network,
        "budget": config.env_steps,
        "seeds": seeds,
        "key": key,
        "mean": interval.mean,
        "ci95": [interval.low, interval.high],
        "iqm": iqm(result.final_returns),
        "reference": reference.get("return", "-"),
        "source": reference.get("source", "-"),
        "reference_value": value,
        "wall_s": wall,
        "steps_per_second": result.steps_per_second,
        "final_returns": [float(v) for v in np.asarray(result.final_returns)],
        "win_rate": win_rate,  # SMAX: the share of episodes won in the last 5% of updates
    }


def verdict(row: dict) -> str:
    """ "yes" when the reference is not above our 95% interval (compared at the 2 decimals
    shown), else "no" with the gap between our mean and the reference."""
    value = row["reference_value"]
    if value is None:
        return "no reference"
    if round(row["ci95"][1], 2) >= value:
        return "yes"
    return f"**no** ({row['mean'] - value:+.3g})"


def markdown(rows: list[dict], device: str) -> str:
    lines = [
        f"Device: {device}. Seeds per environment: {rows[0]['seeds']}, one vmapped call each.",
        "",
        "| environment | network | budget (env steps) | ours: mean [95% CI] | IQM | published "
        "reference | source | reached | wall s |",
        "|---|---|---:|---|---:|---|---|---|---:|",
    ]
    for r in rows:
        changes = r.get("changes")
        name = f"{r['env_id']} ({describe_changes(changes)})" if changes else r["env_id"]
        name += f", seeds of key {r['key']}" if r.get("key") else ""
        name += f": {r['note']}" if r.get("note") else ""
        wall = f"{r['wall_s']:.0f}" + ("*" if r.get("shared_gpu") else "")
        wins = f"; win rate {r['win_rate']:.2f}" if r.get("win_rate") is not None else ""
        lines.append(
            f"| {name} | {r['network']} | {r['budget']:.2e} | {r['mean']:.2f} "
            f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]{wins} | {r['iqm']:.2f} | {r['reference']} "
            f"| {r['source']} | {verdict(r)} | {wall} |"
        )
    shared = {r["shared_gpu"] for r in rows if r.get("shared_gpu")}
    lines += ["", *(f"\\* {note}" for note in sorted(shared))] if shared else []
    return "\n".join(lines) + "\n"


def record_measured(rows: list[dict], device: str) -> None:
    """Add the rows to benchmarks/results/presets-measured.json (the package holds only the
    tuned inputs); print the config changes of variant rows, to copy into presets.json by hand."""
    measured = json.loads(MEASURED_FILE.read_text()) if MEASURED_FILE.exists() else {}
    today = datetime.date.today().isoformat()
    for r in rows:
        if r.get("changes"):
            print(f"{r['env_id']}: config changes {json.dumps(r['changes'])} (not applied)")
            continue
        measured[r["env_id"]] = {
            "final_return": round(r["mean"], 2),
            "ci95": [round(r["ci95"][0], 2), round(r["ci95"][1], 2)],
            "seeds": r["seeds"],
            "env_steps": r["budget"],
            "device": device,
            "how": f"benchmarks/returns.py, {today}",
        }
    save_text(json.dumps(measured, indent=1, ensure_ascii=False) + "\n", MEASURED_FILE)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--envs", nargs="+", default=DEFAULT_ENVS, help="env ids, or 'all'")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument(
        "--key",
        type=int,
        default=0,
        help="seed key (0 for the table; another to check a tuned preset)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/returns.md"))
    parser.add_argument(
        "--record", action="store_true", help="add the rows to results/presets-measured.json"
    )
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="FIELD=VALUE", help="change preset fields"
    )
    parser.add_argument("--render", type=Path, help="re-print the table of a saved .json")
    args = parser.parse_args()
    if args.render:
        record = json.loads(args.render.read_text())
        print(markdown(record["rows"], record["device"]), end="")
        return

    import purejaxppo

    purejaxppo.use_cpu_cores()
    from purejaxppo.core.presets import PRESETS

    envs = sorted(PRESETS) if args.envs == ["all"] else args.envs
    unknown = [e for e in envs if e not in PRESETS]
    if unknown:
        sys.exit(f"--envs: no preset for {', '.join(unknown)}. Fix: see `purejaxppo envs`.")
    changes = parse_changes(args.set)
    device = describe_device()
    rows = []
    for env_id in envs:
        row = measure(env_id, args.seeds, changes, args.key)
        rows.append(row)
        print(
            f"{env_id}: {row['mean']:.2f} [{row['ci95'][0]:.2f}, {row['ci95'][1]:.2f}], "
            f"IQM {row['iqm']:.2f}, reference {row['reference']}, {row['wall_s']:.0f} s",
            flush=True,
        )
        save_text(markdown(rows, device), args.out)
        record = {"device": device, "rows": rows}
        save_text(json.dumps(record, indent=1) + "\n", args.out.with_suffix(".json"))
    if args.record:
        record_measured(rows, device)
    print()
    print(markdown(rows, device))


if __name__ == "__main__":
    main()
