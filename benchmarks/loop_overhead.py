"""What the conveniences cost: the engine, the progress callback and the checkpointed loop.

In one process, on every local device (one per CPU core), the same 64-seed CartPole runs are
trained six ways: the core alone, `jit(vmap(make_train(config)))` with the seeds sharded over
the devices (the reference); `purejaxppo.train` in one call, without and with the live progress
bar; the checkpointed host loop over compiled segments at the CLI's defaults (100 updates per
segment, a checkpoint every 500 updates) with progress, as `purejaxppo train` runs it; the same
with a checkpoint every segment; and the segment loop without checkpoints. Each prints env steps
per second and compile time, both as ratios to the core's. Shared machines are noisy: every
variant runs `--rounds` times, in forward then reverse order, and its fastest run counts.

    python benchmarks/loop_overhead.py [--seeds 64] [--total-timesteps 500000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from purejaxppo.cli.bench import describe_device, save_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/loop_overhead.md"))
    args = parser.parse_args()

    import purejaxppo

    purejaxppo.use_cpu_cores()
    from purejaxppo.engine.progress import TrainingProgress

    config = purejaxppo.PPOConfig(total_timesteps=args.total_timesteps)

    def quiet_progress() -> TrainingProgress:
        return TrainingProgress(
            args.seeds, config.env_steps, config.batch_size, config.env_id, enabled=False
        )

    import time

    import jax

    from purejaxppo.engine.devices import runs_sharding

    sharding = runs_sharding(jax.devices())
    keys = jax.device_put(jax.random.split(jax.random.key(0), args.seeds), sharding)

    def core() -> tuple[float, float, float]:
        """(env steps/s, run s, compile s) of jit(vmap(make_train)) over the same devices."""
        start = time.perf_counter()
        train = jax.jit(jax.vmap(purejaxppo.make_train(config), in_axes=(0, None)))
        compiled = train.lower(keys, config.hparams).compile()
        compile_seconds = time.perf_counter() - start
        start = time.perf_counter()
        jax.block_until_ready(compiled(keys, config.hparams))
        seconds = time.perf_counter() - start
        return args.seeds * config.env_steps / seconds, seconds, compile_seconds

    variants = {
        "the core: jit(vmap(make_train)) (reference)": "core",
        "purejaxppo.train, one call, no progress": {},
        "one call, progress callback": {"progress": quiet_progress},
        "segments of 100, checkpoint every 500, progress (CLI default)": {
            "progress": quiet_progress, "checkpoint_dir": True, "checkpoint_every": 500,
        },
        "segments of 100, checkpoint every 100, progress": {
            "progress": quiet_progress, "checkpoint_dir": True, "checkpoint_every": 100,
        },
        "segments of 100, no checkpoint, no progress": {"segment_updates": 100},
    }  # fmt: skip
    best: dict[str, tuple[float, float, int, float]] = {}
    names = list(variants)
    for round_index in range(args.rounds):
        for name in names if round_index % 2 == 0 else names[::-1]:
            if variants[name] == "core":
                sps, seconds, compile_seconds = core()
                print(f"round {round_index + 1}, {name}: {sps:,.0f} steps/s", flush=True)
                if name not in best or sps > best[name][0]:
                    best[name] = (sps, seconds, 0, compile_seconds)
                continue
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
                best[name] = (sps, result.run_seconds, calls, result.compile_seconds)
    rows = [(name, *best[name]) for name in names]
    reference, reference_compile = rows[0][1], rows[0][4]
    device = describe_device()
    lines = [
        f"Device: {device}. CartPole-v1 default config, {args.seeds} seeds x "
        f"{config.env_steps:,} env steps; fastest of {args.rounds} rounds per variant.",
        "",
        "| variant | env steps/s | run s | speed vs core | compile s | compile vs core "
        "| host callbacks |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, sps, seconds, calls, compile_seconds in rows:
        lines.append(
            f"| {name} | {sps / 1e3:,.0f}k | {seconds:.1f} | {sps / reference:.3f} "
            f"| {compile_seconds:.1f} | {compile_seconds / reference_compile:.2f} | {calls} |"
        )
    table = "\n".join(lines) + "\n"
    save_text(table, args.out)
    print(f"\n{table}")


if __name__ == "__main__":
    main()
