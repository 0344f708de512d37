"""Results the way papers report them: final returns of many runs over several environments,
normalised, aggregated with rliable (`aggregate`), and written as aggregate.csv, profiles.png,
improvement.png and report.md (`purejaxppo report DIR...`, or `purejaxppo.report(...)`).

Sources: run directories of every command (train, sweep, pbt, es) or the results the library
returns. A group is what is compared (a method, a setting); a task is an environment. Each source
gives its runs' final returns (`scores.final_return`: the episodes of the last 5% of updates; NaN
for a run that diverged) to its group:
    train / RunResult        its runs
    sweep / SweepResult      one group per configuration: "GROUP clip_eps=0.1"
    pbt / PBTResult          its members
    es / ESResult            its last generation's members, scored by the search's fitness
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from purejaxppo.base.errors import ConfigError
from purejaxppo.core.presets import PRESETS
from purejaxppo.envs.ids import canonical_env_id
from purejaxppo.outputs import aggregate as agg
from purejaxppo.search import scores
from purejaxppo.search.es import ESResult
from purejaxppo.search.pbt import PBTResult
from purejaxppo.search.sweep import SweepResult
from purejaxppo.search.train import RunResult

Normalize = Literal["random", "preset", "none"]
Source = Any  # a run directory (str or Path), RunResult, SweepResult, PBTResult or ESResult


def _rows(
    group: str, task: str, returns: Any, diverged: Any, source: str, scored_by: str = "final_return"
) -> pd.DataFrame:
    returns = np.asarray(returns, np.float64)
    return pd.DataFrame(
        {
            "group": group,
            "task": canonical_env_id(task),
            "run": np.arange(returns.size),
            "final_return": returns,
            "diverged": np.broadcast_to(np.asarray(diverged, bool), returns.shape),
            "source": source,
            "scored_by": scored_by,
        }
    )


def _setting_label(row: pd.Series, names: Sequence[str]) -> str:
    return ", ".join(f"{n}={row[n]:.3g}" for n in names)


def _sweep_rows(group: str, runs: pd.DataFrame, env_id: str, source: str) -> pd.DataFrame:
    names = list(runs.columns[list(runs.columns).index("seed") + 1 : -3])  # the swept fields
    return pd.concat(
        [
            _rows(
                f"{group} {_setting_label(part.iloc[0], names)}",
                env_id,
                part.final_return,
                part.first_nonfinite_update >= 0,
                source,
            )
            for _, part in runs.groupby("config", sort=True)
        ]
    )


def _result_rows(result: Any, group: str) -> pd.DataFrame:
    if isinstance(result, SweepResult):
        return _sweep_rows(group, result.runs, result.result.config.env_id, "SweepResult")
    if isinstance(result, ESResult):
        diverged = result.diverged[-1].any(axis=-1)
        fitness = f"ES fitness {result.fitness_name}"
        return _rows(group, result.config.env_id, result.fitness[-1], diverged, "ESResult", fitness)
    if isinstance(result, RunResult | PBTResult):
        final = np.asarray(scores.final_return(result.metrics))
        diverged = np.asarray(scores.diverged(result.metrics))
        return _rows(group, result.config.env_id, final, diverged, type(result).__name__)
    raise ConfigError(
        f"report: {type(result).__name__} is not a source. Fix: pass run directories or "
        "the results of train, sweep, pbt or es."
    )


def _metrics_from_csv(path: Path, run_column: str) -> dict[str, np.ndarray]:
    frame = pd.read_csv(path).sort_values([run_column, "update"])
    runs = frame[run_column].nunique()
    names = ("episode_return", "episodes_finished", "nonfinite")
    return {name: frame[name].to_numpy().reshape(runs, -1) for name in names}


def _directory_rows(directory: Path, group: str) -> pd.DataFrame:
    if not (directory / "summary.json").exists():
        raise ConfigError(
            f"report: {directory} is not a finished run directory (no summary.json). "
            f"Fix: purejaxppo resume {directory}, or leave it out."
        )
    command = json.loads((directory / "run.json").read_text())["command"]
    env_id = json.loads((directory / "config.json").read_text())["env_id"]
    source = str(directory)
    if command == "sweep":
        return _sweep_rows(group, pd.read_csv(directory / "runs.csv"), env_id, source)
    if command == "es":
        table = pd.read_csv(directory / "es.csv")
        last = table[table.generation == table.generation.max()].sort_values("member")
        fitness = "ES fitness " + json.loads((directory / "summary.json").read_text())["fitness"]
        return _rows(group, env_id, last.fitness, last.diverged_seeds > 0, source, fitness)
    run_column = "member" if command == "pbt" else "run"
    metrics = _metrics_from_csv(directory / "metrics.csv", run_column)
    final, diverged = scores.final_return(metrics), scores.diverged(metrics)
    return _rows(group, env_id, final, diverged, source)


def _listed(items: Any) -> list[Any]:
    """One source alone (a directory or a result) as a list of one."""
    return [items] if isinstance(items, str | Path) or hasattr(items, "config") else list(items)


def _labelled(sources: Mapping[str, Sequence[Source]] | Sequence[Source]):
    """(group, source) pairs: a mapping names its groups; a directory alone is grouped by its
    parent directory's name, a result alone goes to the group "runs"."""
    if isinstance(sources, Mapping):
        return [(group, s) for group, items in sources.items() for s in _listed(items)]
    sources = _listed(sources)
    return [
        (Path(s).resolve().parent.name if isinstance(s, str | Path) else "runs", s) for s in sources
    ]


def run_scores(sources: Mapping[str, Sequence[Source]] | Sequence[Source]) -> pd.DataFrame:
    """One row per run: group, task (env id), run, final_return (NaN: diverged, or no episode
    finished), diverged, source, scored_by (final_return, or an ES fitness's name)."""
    frames = []
    for group, source in _labelled(sources):
        if isinstance(source, str | Path):
            frames.append(_directory_rows(Path(source), group))
        else:
            frames.append(_result_rows(source, group))
    if not frames:
        raise ConfigError("report: no sources. Fix: give run directories or results.")
    return pd.concat(frames, ignore_index=True)


def reference_scores(table: str | Path | pd.DataFrame | None = None) -> pd.DataFrame:
    """Per env id: `random` (a uniformly random policy's return, measured by
    benchmarks/random_scores.py) and `reference` (the preset's published return); a user
    `table` (CSV or DataFrame with columns env_id, random, reference) overrides them."""
    measured = json.loads(
        resources.files("purejaxppo.outputs").joinpath("random_scores.json").read_text()
    )
    rows = {
        env_id: {
            "random": measured.get(env_id, {}).get("random", np.nan),
            "reference": _value((p.reference or {}).get("value")),
        }
        for env_id, p in PRESETS.items()
    }
    frame = pd.DataFrame.from_dict(rows, orient="index", dtype=np.float64)
    if table is not None:
        user = table if isinstance(table, pd.DataFrame) else pd.read_csv(table)
        missing = {"env_id", "random", "reference"} - set(user.columns)
        if missing:
            raise ConfigError(
                f"--scores: the table lacks {', '.join(sorted(missing))}. Fix: "
                "columns env_id, random, reference."
            )
        user = user.assign(env_id=[canonical_env_id(e) for e in user.env_id])
        frame = user.set_index("env_id")[["random", "reference"]].combine_first(frame)
    return frame


def _value(value: Any) -> float:
    return np.nan if value is None else float(value)  # 0 is a reference (DeepSea's), not none


def normalised(frame: pd.DataFrame, how: Normalize, references: pd.DataFrame) -> pd.Series:
    """`frame.final_return` normalised per task: `random` (x - random) / (reference - random),
    0 a random policy and 1 the reference; `preset` x / reference; `none` as is."""
    tasks = sorted(frame.task.unique())
    if how == "none":
        if len(tasks) > 1:
            raise ConfigError(
                f"--normalize none over {len(tasks)} environments would average "
                "returns of different scales. Fix: --normalize random or preset, "
                "or one environment."
            )
        return frame.final_return
    known = references.reindex(tasks)
    low = known.random if how == "random" else pd.Series(0.0, index=tasks)
    span = known.reference - low
    bad = [t for t in tasks if not np.isfinite(span[t]) or span[t] <= 0]
    if bad:
        needs = "a reference above the random return" if how == "random" else "a reference > 0"
        raise ConfigError(
            f"--normalize {how}: no usable scores for {', '.join(bad)} (it needs {needs}). "
            "Fix: --scores TABLE.csv (columns env_id, random, reference), or another "
            "--normalize."
        )
    return (frame.final_return - frame.task.map(low)) / frame.task.map(span)


def grouped_scores(
    sources: Mapping[str, Sequence[Source]] | Sequence[Source],
    normalize: Normalize = "random",
    scores_table: str | Path | pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, agg.Scores]]:
    """The per-run table (`run_scores` plus `score`, the normalised return) and each group's
    [runs, tasks] matrix for rliable."""
    frame = run_scores(sources)
    frame["score"] = normalised(frame, normalize, reference_scores(scores_table))
    groups = {
        group: agg.equalised(part, sorted(part.task.unique()), group)
        for group, part in frame.groupby("group", sort=False)
    }
    return frame, groups


def _pairs(groups: Sequence[str], compare: Sequence[str] | None) -> list[tuple[str, str]]:
    if compare is None:
        return [(x, y) for i, x in enumerate(groups) for y in groups[i + 1 :]][:6]
    if len(compare) != 2 or any(name not in groups for name in compare):
        raise ConfigError(
            f"--compare {' '.join(compare)}: needs two of the groups "
            f"({', '.join(groups)}). Fix: e.g. --compare {' '.join(groups[:2])}."
        )
    return [(compare[0], compare[1])]


def report(
    sources: Mapping[str, Sequence[Source]] | Sequence[Source],
    out: str | Path | None = None,
    normalize: Normalize = "random",
    compare: Sequence[str] | None = None,
    scores_table: str | Path | pd.DataFrame | None = None,
    reps: int = agg.REPS,
    seed: int = 0,
) -> pd.DataFrame:
    """Aggregate final returns over environments, per group (see the module docstring): one row
    per group with IQM, median, mean and optimality gap of normalised scores and their 95%
    stratified-bootstrap intervals (rliable). `sources`: run directories or results, or a
    mapping group -> them. With `out`, writes there aggregate.csv, scores.csv (one row per run),
    profiles.png, improvement.png (P(X > Y) for the `compare` pair, or between the groups) and
    report.md."""
    frame, groups = grouped_scores(sources, normalize, scores_table)
    table = agg.aggregate(groups, reps, seed)
    table.insert(1, "normalize", normalize)
    if out is not None:
        pairs = _pairs(list(groups), compare) if len(groups) > 1 else []
        write_report(Path(out), frame, groups, table, pairs, reps, seed)
    return table


def write_report(
    out: Path,
    frame: pd.DataFrame,
    groups: dict[str, agg.Scores],
    table: pd.DataFrame,
    pairs: list[tuple[str, str]],
    reps: int,
    seed: int,
) -> None:
    from purejaxppo.outputs.plots import plot_improvement, plot_profiles

    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "aggregate.csv", index=False)
    frame.to_csv(out / "scores.csv", index=False)
    finite = np.concatenate([s.matrix.ravel() for s in groups.values()])
    taus = np.linspace(min(0.0, finite.min()), max(1.0, finite.max()), 101)
    profiles, bands = agg.profiles(groups, taus, reps, seed)
    tasks = sorted({t for s in groups.values() for t in s.tasks})
    plot_profiles(
        profiles,
        bands,
        taus,
        out / "profiles.png",
        f"Performance profiles over {len(tasks)} environments",
    )
    better = agg.improvement(groups, pairs, reps, seed) if pairs else None
    if better is not None:
        points = {row.pair: np.array([row.probability]) for row in better.itertuples()}
        bands_ = {row.pair: np.array([[row.low], [row.high]]) for row in better.itertuples()}
        plot_improvement(points, bands_, out / "improvement.png", " > ")
        better.to_csv(out / "improvement.csv", index=False)
    (out / "report.md").write_text(markdown(table, better, tasks, frame))


def _interval(row: Any, metric: str) -> str:
    return (
        f"{getattr(row, metric):.3f} [{getattr(row, metric + '_low'):.3f}, "
        f"{getattr(row, metric + '_high'):.3f}]"
    )


def markdown(
    table: pd.DataFrame, better: pd.DataFrame | None, tasks: list[str], frame: pd.DataFrame
) -> str:
    """report.md: the aggregate table, what was left out, and P(X > Y)."""
    how = table.normalize.iloc[0]
    lines = [
        "# Report",
        "",
        f"{len(tasks)} environments ({', '.join(tasks)}); scores normalised by `{how}`; 95% "
        "stratified-bootstrap intervals (rliable).",
        "",
        "| group | IQM | median | mean | optimality gap | runs x tasks | left out: diverged, "
        "no episode, to equalise |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.group} | {_interval(row, 'iqm')} | {_interval(row, 'median')} | "
            f"{_interval(row, 'mean')} | {_interval(row, 'optimality_gap')} | {row.runs} x "
            f"{row.tasks} | {row.diverged_excluded}, {row.unscored_excluded}, "
            f"{row.dropped_to_equalise} |"
        )
    if better is not None:
        lines += ["", "| P(X > Y) | estimate [95% interval] |", "|---|---|"]
        lines += [
            f"| {r.pair} | {r.probability:.3f} [{r.low:.3f}, {r.high:.3f}] |"
            for r in better.itertuples()
        ]
    searched = sorted(set(frame.scored_by) - {"final_return"})
    if searched:
        lines += [
            "",
            "Some groups' runs are an evolution strategy's last-generation members (each a mean "
            f"over its seeds), scored by the search's fitness: {', '.join(searched)}.",
        ]
    return "\n".join(lines) + "\n"


def compare(
    sources: Mapping[str, Sequence[Source]],
    pair: tuple[str, str],
    normalize: Normalize = "random",
    scores_table: str | Path | pd.DataFrame | None = None,
    reps: int = agg.REPS,
    seed: int = 0,
) -> pd.DataFrame:
    """P(X > Y) of group `pair[0]` over `pair[1]` on the environments both have, with its 95%
    interval (rliable's probability of improvement)."""
    _, groups = grouped_scores(sources, normalize, scores_table)
    return agg.improvement(groups, _pairs(list(groups), pair), reps, seed)
