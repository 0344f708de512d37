"""The commands that read or measure without training into a run directory: eval, envs, bench."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

from purejaxppo.base.errors import EXIT_DIVERGED, ConfigError, check_positive_int
from purejaxppo.cli.bench import run_table
from purejaxppo.cli.hooks import load
from purejaxppo.cli.options import BenchCommand, EnvsCommand, EvalCommand, ReportCommand
from purejaxppo.core.evaluation import check_drawing, evaluate, render_gif
from purejaxppo.core.presets import PRESETS
from purejaxppo.envs.ids import SUITES, check_env_id
from purejaxppo.envs.registry import describe_env_id, registered_env_ids
from purejaxppo.outputs import rundirs
from purejaxppo.search.stats import mean_interval


def run_eval(command: EvalCommand) -> int:
    check_positive_int("--num-episodes", command.num_episodes, 10)
    if command.gif is not None:
        rundirs.check_output_file("--gif", command.gif)
    network = _trained_network(command.run_dir)
    if network is not None and command.gif is not None:
        raise ConfigError(
            f"--gif={str(command.gif)!r}: animating a network of yours is not supported yet. "
            "Fix: leave out --gif (the returns are evaluated as usual)."
        )
    config, params, obs_stats = rundirs.load_final(command.run_dir, network)
    if command.gif is not None:
        check_drawing(config)
    finite = finite_runs(params)
    result = evaluate(
        config,
        params,
        key=command.seed,
        num_episodes=command.num_episodes,
        deterministic=not command.stochastic,
        obs_stats=obs_stats,
        network=network,
    )
    per_run = np.where(finite, result.returns.mean(axis=-1), np.nan)
    interval = mean_interval(per_run)
    mode = "stochastic" if command.stochastic else "deterministic"
    print(f"{config.env_id}: {per_run.shape[0]} runs x {command.num_episodes} {mode} episodes")
    print(f"  mean return      {interval}")
    print(f"  episode length   {result.lengths[finite].mean() if finite.any() else np.nan:.1f}")
    record = {
        "num_runs": int(per_run.shape[0]),
        "num_episodes": command.num_episodes,
        "deterministic": not command.stochastic,
        "mean_return": interval.mean,
        "ci95": [interval.low, interval.high],
        "diverged_runs": int((~finite).sum()),
        "per_run_mean_return": per_run.tolist(),
    }
    if result.agent_returns is not None:  # a multi-agent env: each agent's own return too
        agents = result.agent_returns[finite].mean(axis=(0, 1)) if finite.any() else []
        print("  per agent        " + " ".join(f"{x:.3f}" for x in agents))
        record["per_agent_mean_return"] = [float(x) for x in agents]
    rundirs.write_json(command.run_dir / "eval.json", record)
    if command.gif is not None and finite.any():
        first = jax.tree.map(lambda x: x[int(np.argmax(finite))], (params, obs_stats))
        steps = render_gif(config, *first, command.gif, command.seed)
        print(f"  animation        {command.gif} ({steps} steps)")
    return _diverged_status(int((~finite).sum()), len(finite))


def _trained_network(run_dir: Path) -> Any:
    """The network of yours a run directory was trained with (run.json's --network-module,
    imported again), or None for the built-in ones."""
    record = run_dir / "run.json"
    spec = rundirs.read_json(record).get("network_module") if record.exists() else None
    return load(spec, "network-module") if spec else None


def finite_runs(params: Any) -> Any:
    """[runs] bool: every parameter of the run is finite (a diverged run's are not)."""
    leaves = [
        np.isfinite(np.asarray(x)).reshape(x.shape[0], -1).all(1) for x in jax.tree.leaves(params)
    ]
    return np.logical_and.reduce(leaves)


def _diverged_status(diverged: int, runs: int) -> int:
    """Warn about runs whose parameters are not finite; EXIT_DIVERGED when all of them are."""
    if diverged:
        print(
            f"purejaxppo: warning: {diverged} of {runs} runs have non-finite parameters "
            "(they diverged in training); their returns are left out.",
            file=sys.stderr,
        )
    return EXIT_DIVERGED if diverged == runs else 0


def run_envs(command: EnvsCommand) -> int:
    print(f"{'environment':28s} {'actions':16s} {'observation':14s} preset")
    for env_id in registered_env_ids():
        try:
            spec = describe_env_id(env_id)
        except ConfigError:
            print(f"{env_id:28s} (cannot be built here: it downloads data)")
            continue
        actions = f"Discrete({spec.num_actions})" if spec.discrete else f"Box({spec.num_actions})"
        preset = PRESETS.get(env_id)
        obs = f"Discrete({spec.obs_categories})" if spec.obs_categories else str(spec.obs_shape)
        print(f"{env_id:28s} {actions:16s} {obs:14s} {preset.describe() if preset else '-'}")
    for suite in SUITES.values():
        print(f"\n{suite.title} environments, as {suite.prefix}:NAME ({suite.about}):")
        try:
            listed = suite.load("names")()
        except ConfigError:
            print(f"  pip install 'purejaxppo[{suite.prefix}]' to list and use them")
            continue
        for name in listed:
            preset = PRESETS.get(f"{suite.prefix}:{name}")
            print(f"{suite.prefix + ':' + name:44s} {preset.describe() if preset else '-'}")
    return 0


def run_bench(command: BenchCommand) -> int:
    for seeds in command.seeds:
        check_positive_int("--seeds", seeds, 64)
    check_positive_int("--total-timesteps", command.total_timesteps, 500_000)
    check_env_id(command.env_id, "--env-id")
    if command.out is not None:
        rundirs.check_output_file("--out", command.out)
    table = run_table(command.env_id, list(command.seeds), command.total_timesteps, command.out)
    print(table, file=sys.stdout)
    return 0


def report_sources(sources: tuple[str, ...]) -> dict[str, list[Path]]:
    """GROUP=DIR and DIR arguments as group -> directories (a bare DIR: its parent's name),
    every directory checked before any work."""
    groups: dict[str, list[Path]] = {}
    for source in sources:
        bare = (Path(source) / "run.json").is_file() or "=" not in source  # runs/lr=0.1 is a dir
        group, _, path = ("", "", source) if bare else source.rpartition("=")
        directory = Path(path)
        if not (directory / "run.json").is_file():
            raise ConfigError(
                f"report {source}: {directory} is not a run directory (no run.json). Fix: give "
                "directories written by train, sweep, pbt or es (e.g. runs/*)."
            )
        groups.setdefault(group or directory.resolve().parent.name, []).append(directory)
    if not groups:
        raise ConfigError("report: no directories. Fix: e.g. purejaxppo report runs/*")
    return groups


def run_report(command: ReportCommand) -> int:
    from purejaxppo.outputs.report import report

    check_positive_int("--reps", command.reps, 2000)
    table = report(
        report_sources(command.sources), out=command.out, normalize=command.normalize,
        compare=command.compare, scores_table=command.scores, reps=command.reps,
        seed=command.seed,
    )  # fmt: skip
    print(f"normalised by {command.normalize}; 95% stratified-bootstrap intervals (rliable)")
    for row in table.itertuples():
        print(
            f"  {row.group:24s} IQM {row.iqm:7.3f} [{row.iqm_low:.3f}, {row.iqm_high:.3f}]  "
            f"{row.runs} runs x {row.tasks} envs; left out: {row.diverged_excluded} diverged, "
            f"{row.unscored_excluded} without a final episode"
        )
    print(f"wrote {command.out}/ (aggregate.csv, scores.csv, profiles.png, report.md)")
    return 0
