"""What the conveniences cost: the progress callback and the checkpointed segment loop.

In one process, on every local device (one per CPU core), the same 64-seed CartPole runs are
trained five ways: one compiled call without progress (the reference); the same with the live
progress bar; the checkpointed host loop over compiled segments at the CLI's defaults (100
updates per segment, a checkpoint every 500 updates) with progress, as `purejaxppo train` runs
it; the same with a checkpoint every segment; and the loop without checkpoints. Each prints env
steps per second and its ratio to the reference. Shared machines are noisy: every variant runs
`--rounds` times, in forward then reverse order, and its fastest run counts.

    python benchmarks/loop_overhead.py [--seeds 64] [--total-timesteps 500000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import describe_device, save_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/loop_overhead.md"))
    args = parser.parse_args()

    import purejaxppo

    purejaxppo.use_cpu_cores()
    from purejaxppo.progress import TrainingProgress

    config = purejaxppo.PPOConfig(total_timesteps=args.total_timesteps)
    total = args.seeds * config.env_steps

    def quiet_progress() -> TrainingProgress:
        return TrainingProgress(total, config.env_id, enabled=False)

    variants = {
        "one call, no progress (reference)": {},
        "one call, progress callback": {"progress": quiet_progress},
        "segments of 100, checkpoint every 500, progress (CLI default)": {
            "progress": quiet_progress, "checkpoint_dir": True, "checkpoint_every": 500,
        },
        "segments of 100, checkpoint every 100, progress": {
            "progress": quiet_progress, "checkpoint_dir": True, "checkpoint_every": 100,
        },
        "segments of 100, no checkpoint, no progress": {"segment_updates": 100},
    }  # fmt: skip
    best: dict[str, tuple[float, float, int]] = {}
    names = list(variants)
    for round_index in range(args.rounds):
        for name in names if round_index % 2 == 0 else names[::-1]:
            options = dict(variants[name])
            if "progress" in options:
                options["progress"] = options["progress"]()
            if options.get("checkpoint_dir"):
                options["checkpoint_dir"] = tempfile.mkdtemp(prefix="purejaxppo-bench-")
            result = purejaxppo.train(config, num_seeds=args.seeds, key=0, **options)
            calls = options["progress"].calls if "progress" in options else 0
            sps = result.steps_per_second
            print(f"round {round_index + 1}, {name}: {sps:,.0f} steps/s ({calls} callbacks)",
                  flush=True)  # fmt: skip
            if name not in best or sps > best[name][0]:
                best[name] = (sps, result.run_seconds, calls)
    rows = [(name, *best[name]) for name in names]
    reference = rows[0][1]
    device = describe_device()
    lines = [
        f"Device: {device}. CartPole-v1 default config, {args.seeds} seeds x "
        f"{config.env_steps:,} env steps; fastest of {args.rounds} rounds per variant.",
        "",
        "| variant | env steps/s | run s | vs reference | host callbacks |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, sps, seconds, calls in rows:
        lines.append(
            f"| {name} | {sps / 1e3:,.0f}k | {seconds:.1f} | {sps / reference:.3f} | {calls} |"
        )
    table = "\n".join(lines) + "\n"
    save_text(table, args.out)
    print(f"\n{table}")


if __name__ == "__main__":
    main()
