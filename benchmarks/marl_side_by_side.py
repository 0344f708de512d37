"""Multi-agent throughput side by side: purejaxppo's IPPO against JaxMARL's own IPPO.

Two tasks, each with the settings of JaxMARL's own config for it, trained by both as
`jit(vmap(train))` over SEEDS keys, each row in its own process:

- `mpe`: `MPE_simple_spread_v3` with baselines/IPPO/config/ippo_ff_mpe.yaml (16 envs x 128 steps,
  4 epochs x 4 minibatches, lr 2.5e-4 annealed, a 64-64 tanh MLP shared by the agents), against
  baselines/IPPO/ippo_ff_mpe.py.
- `smax`: SMAX `2s3z` against the heuristic enemies with baselines/IPPO/config/ippo_rnn_smax.yaml
  (128 envs x 128 steps, 4 epochs x 4 minibatches, lr 4e-3 annealed, clip 0.05, grad norm 0.25,
  a relu embedding of 128, a GRU of 128 and relu heads of 128 shared by the allies), against
  baselines/IPPO/ippo_rnn_smax.py (its hydra/omegaconf entry point is stubbed: only `make_train`
  runs).

JaxMARL's files are read from `--peer-dir`, kept out of the project: a measuring stick only, never
copied. `jaxmarl` runs a file as it is, with its per-update `io_callback` to wandb (disabled mode;
we read the logged return from that call); `jaxmarl-nolog` the same with that callback removed,
the fairer comparison of the training itself (it reports no return). Differences that stay: we
add the agent id to observations and bootstrap at the time limit (JaxMARL treats it as a
termination); JaxMARL samples with its own key per step; on SMAX JaxMARL resets an agent's GRU
when that agent dies, we at the start of its episode.

    .venv/bin/python benchmarks/marl_side_by_side.py table --task smax --seeds 1 16 \\
        --total 1e6 --peer-dir .peers/jaxmarl

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
import types
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Task:
    """One workload: our preset, and the peer's file with the settings of its config."""

    preset: str  # our preset (JaxMARL's settings); total_timesteps is set per run
    module: str  # the peer's file in --peer-dir, without .py
    settings: dict = field(default_factory=dict)  # the peer's config, TOTAL_TIMESTEPS aside
    returned: str = "returned_episode_returns"  # the peer's logged return

    @property
    def batch(self) -> int:
        return self.settings["NUM_ENVS"] * self.settings["NUM_STEPS"]


_COMMON = {"UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95,
           "ENT_COEF": 0.01, "VF_COEF": 0.5, "ANNEAL_LR": True}  # fmt: skip
_MPE = {**_COMMON, "LR": 2.5e-4, "NUM_ENVS": 16, "NUM_STEPS": 128, "CLIP_EPS": 0.2,
        "MAX_GRAD_NORM": 0.5, "ACTIVATION": "tanh", "ENV_NAME": "MPE_simple_spread_v3",
        "ENV_KWARGS": {}}  # fmt: skip
_SMAX = {**_COMMON, "LR": 0.004, "NUM_ENVS": 128, "NUM_STEPS": 128, "GRU_HIDDEN_DIM": 128,
         "FC_DIM_SIZE": 128, "CLIP_EPS": 0.05, "SCALE_CLIP_EPS": False, "MAX_GRAD_NORM": 0.25,
         "ACTIVATION": "relu", "ENV_NAME": "HeuristicEnemySMAX", "MAP_NAME": "2s3z",
         "ENV_KWARGS": {"see_enemy_actions": True, "walls_cause_death": True,
                        "attack_mode": "closest"}}  # fmt: skip
TASKS = {
    "mpe": Task("jaxmarl:MPE_simple_spread_v3", "ippo_ff_mpe", _MPE),
    "smax": Task("jaxmarl:SMAX-2s3z", "ippo_rnn_smax", _SMAX, returned="returns"),
}


def ours(task: Task, seeds: int, total: int):
    import jax
    import numpy as np

    from purejaxppo import make_train, preset

    config = preset(task.preset, total_timesteps=total)
    fn = jax.jit(jax.vmap(make_train(config), in_axes=(0, None)))
    args = (jax.random.split(jax.random.key(0), seeds), config.hparams)

    def final(out) -> float:
        returns = np.asarray(out.metrics["episode_return"])
        return float(np.nanmean(returns[:, -max(1, config.num_updates // 20) :]))

    return fn, args, final


def _stub_entry_points() -> None:
    """The peer's SMAX file imports hydra and omegaconf for its command line only."""
    hydra = types.ModuleType("hydra")
    hydra.main = lambda **kwargs: lambda fn: fn
    omegaconf = types.ModuleType("omegaconf")
    omegaconf.OmegaConf = object
    sys.modules.setdefault("hydra", hydra)
    sys.modules.setdefault("omegaconf", omegaconf)


def _sequential_orthogonal_init() -> None:
    """Orthogonal init runs a LAPACK QR; vmapped over seeds, XLA:CPU's batched QR kernels wait on
    one thread pool and deadlock (the peer's files sat idle at 16 seeds). As our own init does,
    the QR runs once per seed in turn: the same numbers, a one-off cost at the start."""
    import jax
    import jax._src.random as jax_random

    orthogonal = jax_random.orthogonal

    def one_by_one(key, n, shape=(), dtype=float, m=None):
        one = jax.custom_batching.sequential_vmap(lambda k: orthogonal(k, n, shape, dtype, m))
        return one(key)

    jax_random.orthogonal = one_by_one


def theirs(task: Task, seeds: int, total: int, peer_dir: str, log: bool):
    import jax
    import numpy as np

    sys.path.insert(0, os.path.abspath(peer_dir))
    _stub_entry_points()
    _sequential_orthogonal_init()
    import wandb

    wandb.init(mode="disabled")
    logged: list[dict] = []
    wandb.log = lambda row, *args, **kwargs: logged.append(row)
    peer = __import__(task.module)
    import jax.experimental

    if not log:  # the per-update host callback is logging, not training
        jax.experimental.io_callback = lambda *args, **kwargs: None
    config = {**task.settings, "TOTAL_TIMESTEPS": total}
    fn = jax.jit(jax.vmap(peer.make_train(config)))
    args = (jax.random.split(jax.random.PRNGKey(0), seeds),)
    updates = total // task.batch

    def final(out) -> float | None:
        if isinstance(out, dict) and "metrics" in out:
            returns = np.asarray(out["metrics"]["returned_episode_returns"])
            return float(np.mean(returns[:, -max(1, updates // 20) :]))
        if not logged:  # the SMAX file returns no metrics; with no log there is no return
            return None
        last = logged[-max(1, updates // 20) * seeds :]
        return float(np.nanmean([float(np.mean(row[task.returned])) for row in last]))

    return fn, args, final


def measure(task_name: str, system: str, seeds: int, total: int, peer_dir: str) -> dict:
    import jax

    task = TASKS[task_name]
    if system == "ppo":
        fn, args, final = ours(task, seeds, total)
    else:
        fn, args, final = theirs(task, seeds, total, peer_dir, log=system == "jaxmarl")
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    run_s = time.perf_counter() - start
    steps = total // task.batch * task.batch * seeds
    return {
        "task": task_name,
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
        final = _number(row["final_return"])
        lines.append(f"| {row['seeds']} | {row['system']} | {row['steps_per_s']:,.0f} | "
                     f"{row['compile_s']:.1f} | {final} | {ratio} |")  # fmt: skip
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def run_row(task: str, system: str, seeds: int, total: int, peer_dir: str, limit_s: float) -> dict:
    """One row in its own process; a row past `limit_s` is recorded as unfinished, since
    JaxMARL's MPE file under jit(vmap) over 16 keys has stalled on a 2-core CPU (BENCHMARKS.md)."""
    command = [sys.executable, __file__, system, "--task", task, "--seeds", str(seeds),
               "--total", str(total), "--peer-dir", peer_dir]  # fmt: skip
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
    parser.add_argument("--task", choices=sorted(TASKS), default="mpe")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--total", type=float, default=2e5)
    parser.add_argument("--peer-dir", default=".peers/jaxmarl")
    parser.add_argument("--systems", nargs="+", default=["ppo", "jaxmarl", "jaxmarl-nolog"])
    parser.add_argument("--row-limit-s", type=float, default=1200.0)
    args = parser.parse_args()
    total = int(args.total)
    if args.what != "table":
        row = measure(args.task, args.what, args.seeds[0], total, args.peer_dir)
        print(json.dumps(row), flush=True)
        return
    rows = []
    for seeds in args.seeds:
        for system in args.systems:
            rows.append(run_row(args.task, system, seeds, total, args.peer_dir, args.row_limit_s))
            print(json.dumps(rows[-1]), flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
