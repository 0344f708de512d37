"""Scaling with the number of runs, and a sweep in one call against 64 separate calls.

Part 1: for each number of runs (a fresh worker process each, so the peak memory is its own),
`purejaxppo.train` on every local device (one per CPU core): env steps per second, compile
seconds, chunks, the XLA memory estimate per run and the process's peak resident memory.

Part 2, in one process: an 8 learning rates x 8 seeds grid trained by one `purejaxppo.train`
call, against the same 64 runs as 64 separate calls of the jitted core `train(key, hparams)`
(compiled once, since hparams are traced). Both use all devices they can: the one call shards its
runs; a single run cannot be split.

    python benchmarks/scaling.py                              # 1 .. 4096 runs, 51,200 steps each
    python benchmarks/scaling.py --runs 1 64 --total-timesteps 500000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from purejaxppo.cli.bench import describe_device, save_text


def scaling_worker(runs: int, total_timesteps: int) -> dict:
    import purejaxppo

    purejaxppo.use_cpu_cores()
    config = purejaxppo.PPOConfig(total_timesteps=total_timesteps)
    result = purejaxppo.train(config, num_seeds=runs, key=0)
    return {
        "runs": runs,
        "devices": len(result.devices),
        "compile_s": result.compile_seconds,
        "run_s": result.run_seconds,
        "sps": result.steps_per_second,
        "chunks": result.num_chunks,
        "runs_per_chunk": result.runs_per_chunk,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "final_return": float(result.final_return.mean),
    }


def sweep_comparison(total_timesteps: int) -> dict:
    import purejaxppo

    purejaxppo.use_cpu_cores()
    import jax
    import numpy as np

    from purejaxppo import HyperParams

    config = purejaxppo.PPOConfig(total_timesteps=total_timesteps)
    rates = np.geomspace(1e-4, 1e-3, 8)
    grid = HyperParams.stack([config.replace(learning_rate=float(lr)).hparams for lr in rates])
    start = time.perf_counter()
    one_call = purejaxppo.train(config, num_seeds=8, key=0, hparams=grid)
    one_call_total = time.perf_counter() - start

    core = jax.jit(purejaxppo.make_train(config))
    keys = jax.random.split(jax.random.key(0), 8)
    start = time.perf_counter()
    compiled = core.lower(keys[0], config.hparams).compile()
    separate_compile = time.perf_counter() - start
    start = time.perf_counter()
    for lr in rates:
        hparams = config.replace(learning_rate=float(lr)).hparams
        for seed_key in keys:
            jax.block_until_ready(compiled(seed_key, hparams))
    separate_run = time.perf_counter() - start
    return {
        "one_call_compile_s": one_call.compile_seconds,
        "one_call_run_s": one_call.run_seconds,
        "one_call_total_s": one_call_total,
        "separate_compile_s": separate_compile,
        "separate_run_s": separate_run,
        "devices": len(one_call.devices),
    }


def run_worker(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"worker {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 8, 64, 256, 1024, 4096])
    parser.add_argument("--total-timesteps", type=int, default=51_200, help="per run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scaling.md"))
    parser.add_argument("--worker", choices=["scaling", "sweep"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker == "scaling":
        print(json.dumps(scaling_worker(args.runs[0], args.total_timesteps)))
        return
    if args.worker == "sweep":
        print(json.dumps(sweep_comparison(args.total_timesteps)))
        return

    steps = ["--total-timesteps", str(args.total_timesteps)]
    rows = []
    for runs in args.runs:
        row = run_worker(["--worker", "scaling", "--runs", str(runs), *steps])
        rows.append(row)
        print(
            f"{runs:5d} runs: {row['sps'] / 1e3:,.0f}k steps/s, compile {row['compile_s']:.1f}s, "
            f"{row['chunks']} chunk(s) of {row['runs_per_chunk']}, "
            f"peak RSS {row['peak_rss_mb']:,.0f} MB",
            flush=True,
        )
    sweep = run_worker(["--worker", "sweep", *steps])
    ratio = sweep["separate_run_s"] / sweep["one_call_run_s"]
    print(
        f"sweep 8x8: one call {sweep['one_call_run_s']:.1f}s, "
        f"64 calls {sweep['separate_run_s']:.1f}s"
    )

    import purejaxppo

    purejaxppo.use_cpu_cores()  # so that the device line counts the workers' XLA devices
    device = describe_device()
    lines = [
        f"Device: {device}. CartPole-v1 default config, "
        f"{args.total_timesteps:,} env steps per run.",
        "",
        "| runs | devices | compile s | run s | env steps/s | chunks x runs | peak RSS "
        "| final return |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['runs']} | {r['devices']} | {r['compile_s']:.1f} | {r['run_s']:.1f} "
            f"| {r['sps'] / 1e3:,.0f}k | {r['chunks']} x {r['runs_per_chunk']} "
            f"| {r['peak_rss_mb']:,.0f} MB | {r['final_return']:.1f} |"
        )
    lines += [
        "",
        "Sweep of 8 learning rates x 8 seeds (64 runs):",
        "",
        "| | compile s | run s |",
        "|---|---:|---:|",
        f"| one `purejaxppo.train` call | {sweep['one_call_compile_s']:.1f} "
        f"| {sweep['one_call_run_s']:.1f} |",
        f"| 64 calls of the jitted core | {sweep['separate_compile_s']:.1f} "
        f"| {sweep['separate_run_s']:.1f} |",
        "",
        f"One call is {ratio:.1f}x faster than 64 separate calls (run time, same process).",
    ]
    table = "\n".join(lines) + "\n"
    save_text(table, args.out)
    print(f"\n{table}")


if __name__ == "__main__":
    main()
