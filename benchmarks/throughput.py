"""Training throughput against the raw speed of the rollout, for 1 .. many vmapped seeds.

For each number of seeds, a fresh worker process (so that peak memory is its own) compiles and
runs, on the same batch shape:
  * train:   the whole PPO run, `jit(vmap(make_train(config)))`;
  * rollout: the limit, a `lax.scan` of (actor forward -> sample -> vmapped env.step) for the
             same number of env steps, with no critic, GAE or update.
Each is compiled once and run up to 3 times (while under 10 s in all); the median run counts.
It reports compile and run seconds apart, env steps per second of both, their ratio, the XLA
memory estimate of the train executable and the worker's peak resident memory, and writes a
markdown table that names the device.

    python benchmarks/throughput.py                        # 1, 8, 64, 256 seeds; 1 and all devices
    python benchmarks/throughput.py --seeds 1 64 --env-id Acrobot-v1 --devices 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def save_text(text: str, out: Path) -> None:
    """Write a result file (a markdown table, JSON), creating its folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


def describe_device() -> str:
    """The card's or CPU's name and the XLA device count, for the first line of every table."""
    import jax

    devices = jax.local_devices()
    if devices[0].platform == "cpu":
        return f"{cpu_name()}, {os.cpu_count()} cores, {len(devices)} XLA CPU device(s)"
    return f"{len(devices)} x {devices[0].device_kind} ({devices[0].platform})"


def worker(env_id: str, seeds: int, devices: int, total_timesteps: int) -> dict:
    """One measurement, in this process. Runs the train function, then the rollout alone."""
    import purejaxppo

    if devices > 1:
        purejaxppo.use_cpu_cores(devices)
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from purejaxppo.networks import ActorCritic
    from purejaxppo.presets import PRESETS, preset
    from purejaxppo.trainer import make_train, make_train_functions

    config = preset(env_id) if env_id in PRESETS else purejaxppo.PPOConfig(env_id=env_id)
    config = config.replace(total_timesteps=total_timesteps)
    functions = make_train_functions(config)
    env, env_params, network = functions.env, functions.env_params, functions.network
    used = jax.local_devices()[:devices]
    sharding = NamedSharding(Mesh(np.array(used), ("runs",)), PartitionSpec("runs"))
    keys = jax.device_put(jax.random.split(jax.random.key(0), seeds), sharding)

    def rollout_only(key: jax.Array) -> jax.Array:
        reset_keys = jax.random.split(key, config.num_envs)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, env_params)
        params = functions.init_params(key)

        def env_step(carry, step_key):
            obs, env_state = carry
            action_key, env_key = jax.random.split(step_key)
            policy = network.apply(params, obs.astype(jnp.float32), method=ActorCritic.actor)
            action = policy.sample(seed=action_key)
            if not functions.spec.discrete:
                action = jnp.clip(action, functions.spec.action_low, functions.spec.action_high)
            obs, env_state, reward, _, _, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(env_key, config.num_envs), env_state, action, env_params
            )
            return (obs, env_state), reward

        def one_update(carry, update_key):
            carry, rewards = jax.lax.scan(
                env_step, carry, jax.random.split(update_key, config.num_steps)
            )
            return carry, rewards.sum()

        _, totals = jax.lax.scan(
            one_update, (obs, env_state), jax.random.split(key, config.num_updates)
        )
        return totals.sum()

    def measure(fn, *args):
        """Compile once; run until 3 runs or 10 s were timed; report the median run."""
        start = time.perf_counter()
        compiled = jax.jit(fn).lower(*args).compile()
        compile_seconds = time.perf_counter() - start
        times = []
        while len(times) < 3 and sum(times) < 10.0:
            start = time.perf_counter()
            out = jax.block_until_ready(compiled(*args))
            times.append(time.perf_counter() - start)
        return compiled, out, compile_seconds, float(np.median(times))

    train = jax.vmap(make_train(config), in_axes=(0, None))
    compiled, result, train_compile, train_run = measure(train, keys, config.hparams)
    memory = compiled.memory_analysis()
    xla_bytes = (
        memory.temp_size_in_bytes + memory.argument_size_in_bytes + memory.output_size_in_bytes
    )
    final = purejaxppo.final_returns(
        np.asarray(result.metrics["episode_return"]),
        np.asarray(result.metrics["episodes_finished"]),
    )
    _, _, _, rollout_run = measure(jax.vmap(rollout_only), keys)
    steps = seeds * config.env_steps
    return {
        "env_id": env_id,
        "seeds": seeds,
        "devices": len(used),
        "env_steps": steps,
        "compile_s": train_compile,
        "train_s": train_run,
        "train_sps": steps / train_run,
        "rollout_sps": steps / rollout_run,
        "ratio": rollout_run / train_run,
        "xla_memory_mb": xla_bytes / 2**20,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "final_return": float(np.nanmean(final)),
        "device_kind": used[0].device_kind,
        "platform": used[0].platform,
    }


def markdown(rows: list[dict], device: str) -> str:
    lines = [
        f"Device: {device}. Workload: {rows[0]['env_id']}, its preset "
        f"({rows[0]['env_steps'] // rows[0]['seeds']:,} env steps per seed).",
        "",
        "| seeds | XLA devices | compile s | train s | train steps/s | rollout steps/s "
        "| train / rollout | XLA memory | peak RSS | final return |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seeds']} | {r['devices']} | {r['compile_s']:.1f} | {r['train_s']:.1f} "
            f"| {r['train_sps'] / 1e3:,.0f}k | {r['rollout_sps'] / 1e3:,.0f}k | {r['ratio']:.2f} "
            f"| {r['xla_memory_mb']:,.0f} MB | {r['peak_rss_mb']:,.0f} MB "
            f"| {r['final_return']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--env-id", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument(
        "--devices",
        type=int,
        nargs="+",
        default=None,
        help="XLA CPU device counts to compare (default: 1 and one per core)",
    )
    parser.add_argument("--total-timesteps", type=int, default=500_000, help="per seed")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/throughput.md"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        (seeds,), (devices,) = args.seeds, args.devices
        print(json.dumps(worker(args.env_id, seeds, devices, args.total_timesteps)))
        return

    device_counts = args.devices or sorted({1, os.cpu_count() or 1})
    rows = []
    for seeds in args.seeds:
        for devices in device_counts:
            if devices > seeds:
                continue
            command = [
                sys.executable, __file__, "--worker", "--env-id", args.env_id,
                "--seeds", str(seeds), "--devices", str(devices),
                "--total-timesteps", str(args.total_timesteps),
            ]  # fmt: skip
            proc = subprocess.run(command, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.exit(
                    f"worker failed ({seeds} seeds, {devices} devices):\n{proc.stderr[-3000:]}"
                )
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{seeds:5d} seeds, {devices} device(s): train {row['train_sps'] / 1e3:,.0f}k "
                f"steps/s, rollout {row['rollout_sps'] / 1e3:,.0f}k, ratio {row['ratio']:.2f}, "
                f"compile {row['compile_s']:.1f}s, peak RSS {row['peak_rss_mb']:,.0f} MB",
                flush=True,
            )
            # Rewritten after every row, so that a run cut short still leaves its table.
            table = write_table(rows, args.out)
    print()
    print(table)


def write_table(rows: list[dict], out: Path) -> str:
    platform_name = rows[0]["platform"]
    device = (
        f"{cpu_name()}, {os.cpu_count()} cores (JAX CPU backend)"
        if platform_name == "cpu"
        else f"{rows[0]['device_kind']} ({platform_name})"
    )
    table = markdown(rows, device)
    save_text(table, out)
    return table


if __name__ == "__main__":
    main()
