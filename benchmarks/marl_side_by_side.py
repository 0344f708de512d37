"""Multi-agent throughput side by side: purejaxppo's IPPO against JaxMARL's own IPPO on MPE.

Both train `MPE_simple_spread_v3` with JaxMARL's IPPO settings (baselines/IPPO/config/
ippo_ff_mpe.yaml: 16 envs x 128 steps, 4 epochs x 4 minibatches, lr 2.5e-4 annealed, a 64-64
tanh MLP with parameters shared by the agents) as `jit(vmap(train))` over SEEDS keys. Each row
runs in its own process. JaxMARL's `make_train` is read from `--peer-dir` (its
baselines/IPPO/ippo_ff_mpe.py, kept out of the project: a measuring stick only, never copied).
`jaxmarl` runs that file as it is, with its per-update `io_callback` to wandb (disabled mode);
`jaxmarl-nolog` the same with that callback removed, which is the fairer comparison of the
training itself. Differences that stay: we add the agent id to observations and bootstrap at
MPE's time limit (JaxMARL treats it as a termination); JaxMARL samples with its own key per step.

    .venv/bin/python benchmarks/marl_side_by_side.py table --seeds 1 16 --total 2e5 \\
        --peer-dir .peers/jaxmarl

Prints one JSON line per row (env steps per second, compile seconds, final return) and a
markdown table with our ratio to each JaxMARL row, measured in this one sitting.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ENV = "MPE_simple_spread_v3"
SETTINGS = {"LR": 2.5e-4, "NUM_ENVS": 16, "NUM_STEPS": 128, "UPDATE_EPOCHS": 4,
            "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2,
            "ENT_COEF": 0.01, "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5, "ACTIVATION": "tanh",
            "ENV_NAME": ENV, "ENV_KWARGS": {}, "ANNEAL_LR": True}  # fmt: skip


def ours(seeds: int, total: int):
    import jax
    import numpy as np

    from purejaxppo import PPOConfig, make_train

    config = PPOConfig(env_id=f"jaxmarl:{ENV}", num_envs=16, num_steps=128,
                       total_timesteps=total, learning_rate=2.5e-4)  # fmt: skip
    fn = jax.jit(jax.vmap(make_train(config), in_axes=(0, None)))
    args = (jax.random.split(jax.random.key(0), seeds), config.hparams)

    def final(out) -> float:
        returns = np.asarray(out.metrics["episode_return"])
        return float(np.nanmean(returns[:, -max(1, config.num_updates // 20) :]))

    return fn, args, final


def theirs(seeds: int, total: int, peer_dir: str, log: bool):
    import jax
    import numpy as np

    sys.path.insert(0, os.path.abspath(peer_dir))
    import wandb

    wandb.init(mode="disabled")
    import ippo_ff_mpe
    import jax.experimental

    if not log:  # the per-update host callback is logging, not training
        jax.experimental.io_callback = lambda *args, **kwargs: None
    config = {**SETTINGS, "TOTAL_TIMESTEPS": total}
    fn = jax.jit(jax.vmap(ippo_ff_mpe.make_train(config)))
    args = (jax.random.split(jax.random.PRNGKey(0), seeds),)
    updates = total // (16 * 128)

    def final(out) -> float:
        returns = np.asarray(out["metrics"]["returned_episode_returns"])
        return float(np.mean(returns[:, -max(1, updates // 20) :]))

    return fn, args, final


def measure(system: str, seeds: int, total: int, peer_dir: str) -> dict:
    import jax

    if system == "ppo":
        fn, args, final = ours(seeds, total)
    else:
        fn, args, final = theirs(seeds, total, peer_dir, log=system == "jaxmarl")
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    run_s = time.perf_counter() - start
    steps = total // (16 * 128) * 16 * 128 * seeds
    return {
        "system": system,
        "seeds": seeds,
        "env_steps": steps,
        "device": str(jax.devices()[0]),
        "steps_per_s": steps / run_s,
        "compile_s": compile_s,
        "final_return": final(out),
    }


def table(rows: list[dict]) -> str:
    lines = ["| seeds | system | env steps/s | compile s | final return | ours / theirs |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        if row.get("steps_per_s") is None:
            lines.append(f"| {row['seeds']} | {row['system']} | {row['error']} | | | |")
            continue
        ours_row = next(r for r in rows if r["system"] == "ppo" and r["seeds"] == row["seeds"])
        ratio = ""
        if row["system"] != "ppo" and ours_row.get("steps_per_s"):
            ratio = f"{ours_row['steps_per_s'] / row['steps_per_s']:.2f}x"
        lines.append(f"| {row['seeds']} | {row['system']} | {row['steps_per_s']:,.0f} | "
                     f"{row['compile_s']:.1f} | {row['final_return']:.2f} | {ratio} |")  # fmt: skip
    return "\n".join(lines)


def run_row(system: str, seeds: int, total: int, peer_dir: str, limit_s: float) -> dict:
    """One row in its own process; a row past `limit_s` is recorded as unfinished, since
    JaxMARL's file under jit(vmap) over 16 keys has stalled on a 2-core CPU (BENCHMARKS.md)."""
    command = [sys.executable, __file__, system, "--seeds", str(seeds), "--total", str(total),
               "--peer-dir", peer_dir]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit_s)
    except subprocess.TimeoutExpired:
        return {"system": system, "seeds": seeds, "steps_per_s": None,
                "error": f"did not finish in {limit_s:.0f} s"}  # fmt: skip
    if done.returncode:
        raise SystemExit(f"{system} {seeds}: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["ppo", "jaxmarl", "jaxmarl-nolog", "table"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--total", type=float, default=2e5)
    parser.add_argument("--peer-dir", default=".peers/jaxmarl")
    parser.add_argument("--systems", nargs="+", default=["ppo", "jaxmarl", "jaxmarl-nolog"])
    parser.add_argument("--row-limit-s", type=float, default=1200.0)
    args = parser.parse_args()
    total = int(args.total)
    if args.what != "table":
        print(json.dumps(measure(args.what, args.seeds[0], total, args.peer_dir)), flush=True)
        return
    rows = []
    for seeds in args.seeds:
        for system in args.systems:
            rows.append(run_row(system, seeds, total, args.peer_dir, args.row_limit_s))
            print(json.dumps(rows[-1]), flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
