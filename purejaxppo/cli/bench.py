"""Training throughput against the raw speed of the rollout, for 1 .. many vmapped seeds.

For each number of seeds a fresh worker process (so that peak memory is its own) compiles and
runs, on the same batch shape:
  * train:   the whole PPO run, `jit(vmap(make_train(config)))`;
  * rollout: the limit, a `lax.scan` of (actor forward -> sample -> vmapped env.step) for the
             same number of env steps, with no critic, GAE or update.
Each is compiled once and run up to 3 times (while under 10 s in all); the median run counts.
`run_table` returns (and writes) a markdown table that names the device; `purejaxppo bench`
and `benchmarks/throughput.py` print it.
"""

from __future__ import annotations

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


def measure(fn, *args) -> tuple[object, object, float, float]:
    """Compile once; run until 3 runs or 10 s were timed; (compiled, output, compile s, median
    run s)."""
    import jax
    import numpy as np

    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_seconds = time.perf_counter() - start
    times: list[float] = []
    while len(times) < 3 and sum(times) < 10.0:
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - start)
    return compiled, out, compile_seconds, float(np.median(times))


def worker(env_id: str, seeds: int, total_timesteps: int) -> dict:
    """One measurement, in this process, on one device."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from purejaxppo.core.config import PPOConfig
    from purejaxppo.core.networks import ActorCritic
    from purejaxppo.core.presets import PRESETS, preset
    from purejaxppo.core.trainer import make_train, make_train_functions
    from purejaxppo.search.stats import final_returns

    config = preset(env_id) if env_id in PRESETS else PPOConfig(env_id=env_id)
    config = config.replace(total_timesteps=total_timesteps)
    functions = make_train_functions(config)
    env, env_params, network = functions.env, functions.env_params, functions.network
    keys = jax.random.split(jax.random.key(0), seeds)

    def rollout_only(key: jax.Array) -> jax.Array:
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key, config.num_envs), env_params
        )
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

    train = jax.vmap(make_train(config), in_axes=(0, None))
    compiled, result, train_compile, train_run = measure(train, keys, config.hparams)
    memory = compiled.memory_analysis()
    xla_bytes = (
        memory.temp_size_in_bytes + memory.argument_size_in_bytes + memory.output_size_in_bytes
    )
    final = final_returns(
        np.asarray(result.metrics["episode_return"]),
        np.asarray(result.metrics["episodes_finished"]),
    )
    _, _, _, rollout_run = measure(jax.vmap(rollout_only), keys)
    steps = seeds * config.env_steps
    device = jax.devices()[0]
    try:
        peak = device.memory_stats()["peak_bytes_in_use"]
    except (TypeError, KeyError, AttributeError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "env_id": env_id, "seeds": seeds, "env_steps": steps, "compile_s": train_compile,
        "train_s": train_run, "train_sps": steps / train_run, "rollout_sps": steps / rollout_run,
        "ratio": rollout_run / train_run, "xla_memory_mb": xla_bytes / 2**20,
        "peak_memory_mb": peak / 2**20, "final_return": float(np.nanmean(final)),
        "device": describe_device(),
    }  # fmt: skip


def markdown(rows: list[dict]) -> str:
    """The table, with the device and workload named first."""
    lines = [
        f"Device: {rows[0]['device']}. Workload: {rows[0]['env_id']}, its preset "
        f"({rows[0]['env_steps'] // rows[0]['seeds']:,} env steps per seed).",
        "",
        "| seeds | compile s | train s | train steps/s | rollout steps/s | train / rollout "
        "| XLA memory | peak memory | final return |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seeds']} | {r['compile_s']:.1f} | {r['train_s']:.1f} "
            f"| {r['train_sps'] / 1e3:,.0f}k | {r['rollout_sps'] / 1e3:,.0f}k | {r['ratio']:.2f} "
            f"| {r['xla_memory_mb']:,.0f} MB | {r['peak_memory_mb']:,.0f} MB "
            f"| {r['final_return']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def run_table(env_id: str, seeds: list[int], total_timesteps: int, out: Path | None) -> str:
    """One worker process per seed count; the markdown table (also written to `out`)."""
    rows = []
    table = ""
    for count in seeds:
        command = [sys.executable, "-m", "purejaxppo.cli.bench", env_id, str(count),
                   str(total_timesteps)]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"bench worker failed ({count} seeds):\n{proc.stderr[-3000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{count:6d} seeds: train {r['train_sps'] / 1e3:,.0f}k steps/s, rollout "
              f"{r['rollout_sps'] / 1e3:,.0f}k, ratio {r['ratio']:.2f}, compile "
              f"{r['compile_s']:.1f} s", file=sys.stderr, flush=True)  # fmt: skip
        table = markdown(rows)
        if out is not None:  # rewritten after every row: a run cut short keeps its table
            save_text(table, out)
    return table


if __name__ == "__main__":
    env_id, count, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(worker(env_id, count, total)))
