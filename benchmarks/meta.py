"""Meta-learning with evolution strategies, checked on held-out seeds.

Three searches, each one compiled scan over generations (`purejaxppo.es`), then the found setting
and its starting point trained again on seeds the search never saw (a different key), with a 95%
bootstrap interval of the mean final return over those seeds:

  hparams   CMA-ES over learning_rate, ent_coef, gamma, gae_lambda and clip_eps, against the
            default config;
  schedule  CMA-ES over a 5-knot learning-rate schedule (multipliers of the default step, each in
            [0, 4]), against linear annealing (the default);
  drift     SNES over the learned drift's parameters, starting at PPO-clip's drift, against
            PPO-clip (`--drift-learning-rate`: both at another step, where the clip binds more).

Speed: generations per minute, and the share of the wall time spent outside compiling and the
compiled loop (setting up, copying results to the host).

    python benchmarks/meta.py [--env-id CartPole-v1] [--total-timesteps 50000] [--generations 15]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from purejaxppo.cli.bench import describe_device, save_text


def held_out(config: Any, hparams: Any, seeds: int) -> dict[str, Any]:
    import purejaxppo

    result = purejaxppo.train(config, num_seeds=seeds, key=12345, hparams=hparams)
    interval = purejaxppo.mean_interval(result.final_returns)
    return {"mean": interval.mean, "low": interval.low, "high": interval.high,
            "diverged": int(np.sum(result.first_nonfinite_update >= 0))}  # fmt: skip


def search(name: str, config: Any, space: dict, baseline: Any, args: argparse.Namespace,
           **options: Any) -> dict[str, Any]:  # fmt: skip
    import purejaxppo

    start = time.perf_counter()
    result = purejaxppo.es(
        config, space, population=args.population, generations=args.generations,
        num_seeds=args.seeds, key=0, **options,
    )  # fmt: skip
    wall = time.perf_counter() - start
    found = config.hparams.replace(**result.final_mean)
    row = {
        "search": name,
        "strategy": result.strategy,
        "final_mean": {
            k: np.asarray(v).tolist() for k, v in result.final_mean.items() if k != "drift"
        },
        "best_fitness": result.best_fitness,
        "fitness_first_last": [
            float(np.nanmean(result.fitness[0])),
            float(np.nanmean(result.fitness[-1])),
        ],
        "generations_per_minute": 60 * args.generations / result.run_seconds,
        "compile_s": result.compile_seconds,
        "run_s": result.run_seconds,
        "outside_share": (wall - result.compile_seconds - result.run_seconds) / wall,
        "held_out_found": held_out(config, found, args.held_out_seeds),
        "held_out_baseline": held_out(baseline[0], baseline[1], args.held_out_seeds),
    }
    print(json.dumps(row), flush=True)
    return row


def markdown(rows: list[dict], device: str, args: argparse.Namespace) -> str:
    lines = [
        f"Device: {device}. {args.env_id}, {args.total_timesteps:,} env steps per run; "
        f"{args.population} members x {args.seeds} seeds x {args.generations} generations per "
        f"search (key 0); held out: {args.held_out_seeds} seeds of key 12345.",
        "",
        "| search | strategy | found (search mean after the last generation) | held out: found "
        "| held out: baseline | population fitness, first -> last generation | generations/min "
        "| compile s | outside the compiled loop |",
        "|---|---|---|---|---|---|---:|---:|---:|",
    ]
    for row in rows:
        found = (
            ", ".join(
                f"{k}={v:.3g}"
                if isinstance(v, float)
                else f"{k}=" + "/".join(f"{x:.2f}" for x in v)
                for k, v in row["final_mean"].items()
            )
            or "drift parameters"
        )
        f, b = row["held_out_found"], row["held_out_baseline"]
        lines.append(
            f"| {row['search']} | {row['strategy']} | {found} "
            f"| {f['mean']:.1f} [{f['low']:.1f}, {f['high']:.1f}] "
            f"| {b['mean']:.1f} [{b['low']:.1f}, {b['high']:.1f}] "
            f"| {row['fitness_first_last'][0]:.1f} -> {row['fitness_first_last'][1]:.1f} "
            f"| {row['generations_per_minute']:.2f} | {row['compile_s']:.1f} "
            f"| {100 * row['outside_share']:.1f}% |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--env-id", default="CartPole-v1")
    parser.add_argument("--total-timesteps", type=int, default=50_000)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--generations", type=int, default=15)
    parser.add_argument("--held-out-seeds", type=int, default=64)
    parser.add_argument("--only", nargs="+", default=["hparams", "schedule", "drift"])
    parser.add_argument(
        "--drift-learning-rate", type=float, default=None,
        help="the step of the drift search and its PPO-clip baseline (default: the config's)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/meta-cpu.md"))
    args = parser.parse_args()

    import purejaxppo

    purejaxppo.use_cpu_cores()
    from purejaxppo import Free, PPOConfig, Range

    config = PPOConfig(env_id=args.env_id, total_timesteps=args.total_timesteps)
    rows = []
    if "hparams" in args.only:
        space = {
            "learning_rate": Range(1e-4, 1e-2), "ent_coef": Range(1e-4, 0.1),
            "gamma": Range(0.9, 0.999), "gae_lambda": Range(0.8, 0.99),
            "clip_eps": Range(0.05, 0.5),
        }  # fmt: skip
        rows.append(search("hparams", config, space, (config, None), args))
    if "schedule" in args.only:
        knots = config.replace(anneal_lr=False, learning_rate_schedule=(1.0,) * 5)
        space = {"learning_rate_schedule": Range(0.0, 4.0)}
        rows.append(search("schedule", knots, space, (config, None), args))
    if "drift" in args.only:
        base = config.replace(learning_rate=args.drift_learning_rate or config.learning_rate)
        drift = base.replace(objective="learned_drift")
        rows.append(search(f"drift (lr {base.learning_rate:g})", drift, {"drift": Free()},
                           (base, None), args, strategy="SNES", std_init=0.05))  # fmt: skip
    device = describe_device()
    table = markdown(rows, device, args)
    save_text(table, args.out)
    save_text(json.dumps({"device": device, "rows": rows}, indent=1) + "\n",
              args.out.with_suffix(".json"))  # fmt: skip
    print(table)


if __name__ == "__main__":
    main()
