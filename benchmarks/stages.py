"""Where the time of one PPO update goes: each stage compiled alone on the real shapes.

For S vmapped seeds of a config (default: CartPole-v1's), each stage of one update runs K times
inside one compiled `lax.scan` (so dispatch is amortised as in training), and its time per
update is reported next to the whole update's:

    rollout   num_steps of (actor forward -> sample -> vmapped env.step), episode bookkeeping
    batch     critic on observations and true next observations, GAE, flattening
    gae       the GAE scan alone
    update    update_epochs x num_minibatches of (loss forward + backward -> clip -> Adam)
    step      the whole update as `train` runs it (the sum of the above plus glue and metrics)

It also counts the operations XLA keeps after optimisation in each loop body of the compiled
step (on a CPU each is one kernel call; on a GPU each fusion is one launch): the number that
decides speed when the work per kernel is tiny (one seed, or any seed count on a GPU).

    python benchmarks/stages.py --seeds 1 64            # a table per seed count
    python benchmarks/stages.py --seeds 4096 --repeats 20 --env-id Breakout-MinAtar
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from pathlib import Path

from purejaxppo.cli.bench import describe_device, save_text

# Instructions that are bookkeeping, not kernels, in XLA's optimised HLO text.
_NOT_KERNELS = {
    "parameter",
    "get-tuple-element",
    "tuple",
    "constant",
    "bitcast",
    "after-all",
    "opt-barrier",
}
_NAME = re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*")


def _opcode(line: str) -> str | None:
    """The opcode of one instruction line of HLO text, or None for other lines."""
    match = _NAME.match(line)
    if not match:
        return None
    rest = re.sub(r"/\*.*?\*/", "", line[match.end() :])
    if rest.startswith("("):  # a tuple-shaped result: skip the balanced parentheses
        depth = 0
        for i, char in enumerate(rest):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0:
                rest = rest[i + 1 :]
                break
    else:
        rest = rest.split(" ", 1)[1] if " " in rest else ""
    opcode = re.match(r"\s*([a-z][a-z\-]*)\(", rest)
    return opcode.group(1) if opcode else None


def count_kernels(hlo_text: str) -> dict[str, dict[str, int]]:
    """Per computation of optimised HLO text: kernel-like instructions by opcode."""
    counts: dict[str, dict[str, int]] = {}
    current = None
    for line in hlo_text.splitlines():
        if line and not line.startswith(" ") and "{" in line and "(" in line:
            current = line.split("(")[0].replace("ENTRY", "").strip().lstrip("%")
            counts[current] = {}
            continue
        opcode = _opcode(line)
        if current is None or opcode is None or opcode in _NOT_KERNELS:
            continue
        counts[current][opcode] = counts[current].get(opcode, 0) + 1
    return counts


def _computations(hlo_text: str) -> dict[str, list[str]]:
    """Optimised HLO text split into computations: name -> instruction lines."""
    computations: dict[str, list[str]] = {}
    current = None
    for line in hlo_text.splitlines():
        if line and not line.startswith(" ") and "{" in line and "(" in line:
            current = line.split("(")[0].replace("ENTRY", "").strip().lstrip("%")
            computations[current] = []
        elif current is not None:
            computations[current].append(line)
    return computations


def kernel_calls(hlo_text: str) -> int:
    """Kernels launched by one run of the entry computation: each computation's own kernels,
    plus every while body times its known trip count and every called computation, nested.
    Fusions count once (what is fused runs in that kernel)."""
    computations = _computations(hlo_text)
    entry = next(
        line.split("(")[0].replace("ENTRY", "").strip().lstrip("%")
        for line in hlo_text.splitlines()
        if line.startswith("ENTRY")
    )

    def calls(name: str) -> int:
        total = 0
        for line in computations.get(name, []):
            opcode = _opcode(line)
            if opcode is None or opcode in _NOT_KERNELS:
                continue
            if opcode == "while":
                body = re.search(r"body=%?([\w.\-]+)", line).group(1)
                trip = re.search(r'"known_trip_count":\{"n":"(\d+)"', line)
                total += (int(trip.group(1)) if trip else 1) * calls(body)
            elif opcode in ("call", "conditional"):
                for callee in re.findall(r"(?:to_apply|branch_computations)=\{?%?([\w.\-]+)", line):
                    total += calls(callee)
            else:
                total += 1
        return total

    return calls(entry)


def loop_bodies(hlo_text: str) -> list[tuple[str, int, dict[str, int]]]:
    """(body name, trip count if known, kernels by opcode) of every while loop."""
    counts = count_kernels(hlo_text)
    bodies = []
    for line in hlo_text.splitlines():
        if " while(" not in line:
            continue
        body = re.search(r"body=%?([\w.\-]+)", line)
        trip = re.search(r'"known_trip_count":\{"n":"(\d+)"', line)
        if body:
            name = body.group(1)
            bodies.append((name, int(trip.group(1)) if trip else -1, counts.get(name, {})))
    return bodies


def measure(env_id: str, seeds: int, repeats: int, tuning: dict | None = None) -> dict:
    """Time each stage for `seeds` vmapped runs of env_id's preset (or default config).
    `tuning`: fields of `purejaxppo.core.tuning.Tuning` to use instead of the backend's defaults."""
    import inspect

    import jax
    import jax.numpy as jnp
    import numpy as np

    import purejaxppo
    from purejaxppo.core.gae import compute_gae
    from purejaxppo.core.presets import PRESETS, preset
    from purejaxppo.core.trainer import make_train_functions

    config = preset(env_id) if env_id in PRESETS else purejaxppo.PPOConfig(env_id=env_id)
    config = config.replace(total_timesteps=max(config.batch_size * repeats, config.batch_size))
    if tuning and "tuning" in inspect.signature(make_train_functions).parameters:
        from purejaxppo.core.tuning import Tuning

        # Only the named fields change: the others keep this backend's defaults.
        chosen = dataclasses.replace(Tuning.for_backend(), **tuning)
        f = make_train_functions(config, tuning=chosen)
    else:
        f = make_train_functions(config)
    hparams = config.hparams
    keys = jax.random.split(jax.random.key(0), seeds)
    states = jax.jit(jax.vmap(f.init))(keys)
    # A realistic batch: one rollout of the initial policy.
    traj = jax.jit(jax.vmap(lambda s: f.rollout(s.params, s.env_loop, s.key, hparams.gamma)[1]))(
        states
    )
    batch = jax.jit(jax.vmap(lambda s, t: f.make_batch(s.params, t, hparams)))(states, traj)

    def repeated(body):
        """K iterations of body(carry, *fixed) -> carry in one scan, vmapped over seeds."""

        def run(carry, *fixed):
            step = lambda c, _: (body(c, *fixed), None)  # noqa: E731
            return jax.lax.scan(step, carry, None, length=repeats)[0]

        return jax.jit(jax.vmap(run))

    def rollout_body(carry):
        state, key, total = carry
        key, sub = jax.random.split(key)
        env_loop, t, episodes = f.rollout(state.params, state.env_loop, sub, hparams.gamma)
        # Every output of the rollout is used (else XLA drops the stores of the trajectory).
        total = total + sum(jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves(t))
        total = total + episodes.return_sum
        return state.replace(env_loop=env_loop), key, total

    def batch_body(t, params):
        b = f.make_batch(params, t, hparams)
        # Feed a negligible function of the output back into every input, so that XLA can
        # neither hoist the stage out of the loop nor drop part of it.
        nudge = 1e-30 * (b.advantage + b.target).reshape(t.reward.shape)
        grow = (...,) + (None,) * (t.obs.ndim - 2)
        return t.replace(
            reward=t.reward + nudge,
            obs=t.obs + nudge[grow],
            next_obs=t.next_obs + nudge[grow],
        )

    def gae_body(t):
        values = t.reward * 0.5
        _, target = compute_gae(
            t.reward, values, values, t.terminated, t.done, hparams.gamma, hparams.gae_lambda
        )
        return t.replace(reward=t.reward + 1e-30 * target)

    def update_body(carry, b):
        params, opt_state, key = carry
        key, sub = jax.random.split(key)
        params, opt_state, _ = f.update(params, opt_state, b, hparams, sub)
        return params, opt_state, key

    def step_body(state):
        return f.step(state, hparams)[0]

    stages = {
        "rollout": (rollout_body, ((states, states.key, jnp.zeros(seeds)),)),
        "batch": (batch_body, (traj, states.params)),
        "gae": (gae_body, (traj,)),
        "update": (update_body, ((states.params, states.opt_state, states.key), batch)),
        "step": (step_body, (states,)),
    }
    results = {}
    for name, (body, args) in stages.items():
        fn = repeated(body)
        start = time.perf_counter()
        compiled = fn.lower(*args).compile()
        compile_s = time.perf_counter() - start
        jax.block_until_ready(compiled(*args))
        times = []
        for _ in range(3):
            start = time.perf_counter()
            jax.block_until_ready(compiled(*args))
            times.append(time.perf_counter() - start)
        hlo = compiled.as_text()
        entry = {
            "ms_per_update": 1e3 * float(np.median(times)) / repeats,
            "compile_s": compile_s,
            "kernel_calls_per_update": kernel_calls(hlo) / repeats,
        }
        if name == "step":
            loops = loop_bodies(hlo)
            entry["loops"] = [
                {"body": body_name, "trip": trip, "kernels": sum(ops.values()), "ops": ops}
                for body_name, trip, ops in loops
            ]
            for label, trip in (
                ("kernels_per_env_step", config.num_steps),
                ("kernels_per_minibatch", config.update_epochs * config.num_minibatches),
            ):
                # The largest loop body with this trip count (GAE also loops num_steps times).
                sizes = [sum(ops.values()) for _, n, ops in loops if n == trip]
                entry[label] = max(sizes) if sizes else None
        results[name] = entry
    return {
        "env_id": env_id,
        "tuning": tuning or "default",
        "seeds": seeds,
        "repeats": repeats,
        "device": describe_device(),
        "env_steps_per_update": seeds * config.batch_size,
        "stages": results,
    }


def markdown(rows: list[dict], label: str = "") -> str:
    lines = [
        f"Device: {rows[0]['device']}. Workload: {rows[0]['env_id']}"
        + (f" ({label})" if label else "")
        + ". Milliseconds per update, each stage compiled alone.",
        "",
        "| seeds | rollout | critic + GAE | GAE alone | update (epochs x minibatches) "
        "| whole update | env steps/s | kernel calls per update | per env step "
        "| per minibatch step |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        s = row["stages"]
        step = s["step"]["ms_per_update"]
        lines.append(
            f"| {row['seeds']} | {s['rollout']['ms_per_update']:.3f} "
            f"| {s['batch']['ms_per_update']:.3f} | {s['gae']['ms_per_update']:.3f} "
            f"| {s['update']['ms_per_update']:.3f} | {step:.3f} "
            f"| {row['env_steps_per_update'] / step * 1e3:,.0f} "
            f"| {s['step']['kernel_calls_per_update']:,.0f} "
            f"| {s['step']['kernels_per_env_step']} | {s['step']['kernels_per_minibatch']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--env-id", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeats", type=int, default=50, help="updates per timed call")
    parser.add_argument(
        "--tuning", default=None, help="JSON fields of Tuning, e.g. '{\"flat_optimizer\": false}'"
    )
    parser.add_argument("--label", default="", help="a name for this code version in the table")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/stages.md"))
    parser.add_argument("--json", type=Path, default=None, help="also write the raw rows here")
    args = parser.parse_args()
    tuning = json.loads(args.tuning) if args.tuning else None
    rows = [measure(args.env_id, seeds, args.repeats, tuning) for seeds in args.seeds]
    if args.json:
        save_text(json.dumps(rows, indent=1) + "\n", args.json)
    table = markdown(rows, args.label)
    save_text(table, args.out)
    print(table)


if __name__ == "__main__":
    main()
