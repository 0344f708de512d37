"""`report`: final returns of every command's directories, normalised, aggregated over
environments with rliable; its numbers are rliable's on the same arrays."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rliable")  # the report extra; `make test` installs it

from rliable import library, metrics

from purejaxppo import ConfigError
from purejaxppo.outputs import aggregate as agg
from purejaxppo.outputs.report import normalised, reference_scores
from tests.processes import ROOT
from tests.tiny import TINY_FLAGS


def _direct(matrices: dict[str, np.ndarray], reps: int, seed: int):
    """rliable called as its README does, on the same arrays and seed."""

    def four(x):
        return np.array(
            [
                metrics.aggregate_iqm(x),
                metrics.aggregate_median(x),
                metrics.aggregate_mean(x),
                metrics.aggregate_optimality_gap(x),
            ]
        )

    np.random.seed(seed)
    return library.get_interval_estimates(matrices, four, reps=reps)


def test_the_aggregate_is_rliables_on_the_same_arrays():
    rng = np.random.default_rng(1)
    matrices = {"a": rng.normal(0.5, 0.3, (7, 3)), "b": rng.normal(0.8, 0.2, (7, 3))}
    groups = {name: agg.Scores(m, ("x", "y", "z"), 0, 0, 0) for name, m in matrices.items()}
    table = agg.aggregate(groups, reps=300, seed=4).set_index("group")
    points, intervals = _direct(matrices, 300, 4)
    for name in matrices:
        for i, metric in enumerate(agg.METRICS):
            assert table.loc[name, metric] == pytest.approx(points[name][i], abs=1e-12)
            assert table.loc[name, f"{metric}_low"] == pytest.approx(intervals[name][0, i])
            assert table.loc[name, f"{metric}_high"] == pytest.approx(intervals[name][1, i])
    state = np.random.get_state()[1].copy()
    agg.aggregate(groups, reps=50, seed=9)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # the global RNG is restored


def test_runs_are_equalised_per_task_and_what_is_left_out_is_counted():
    frame = pd.DataFrame({
        "task": ["x"] * 4 + ["y"] * 4,
        "score": [0.1, np.nan, 0.3, 0.4, 0.5, 0.6, np.nan, np.nan],
        "diverged": [False, True, False, False, False, False, True, False],
    })  # fmt: skip
    scores = agg.equalised(frame, ["x", "y"], "g")
    np.testing.assert_array_equal(scores.matrix, [[0.1, 0.5], [0.3, 0.6]])
    assert (scores.diverged, scores.unscored, scores.dropped) == (2, 1, 1)
    with pytest.raises(ConfigError, match="group 'g' has no finite score on y"):
        agg.equalised(frame.assign(score=[0.1, 0.2, 0.3, 0.4, *[np.nan] * 4]), ["x", "y"], "g")


def test_normalisation_by_random_and_reference_scores_and_its_refusals():
    references = reference_scores()
    assert references.loc["DeepSea-bsuite", "reference"] == 0.0  # a reference of 0 is one
    cartpole = references.loc["CartPole-v1"]
    assert 15 < cartpole.random < 30 and cartpole.reference == 490.04  # measured, published
    frame = pd.DataFrame({"task": ["CartPole-v1"] * 2, "final_return": [cartpole.random, 490.04]})
    np.testing.assert_allclose(normalised(frame, "random", references), [0.0, 1.0])
    np.testing.assert_allclose(
        normalised(frame, "preset", references), [cartpole.random / 490.04, 1]
    )
    two = pd.DataFrame({"task": ["CartPole-v1", "Acrobot-v1"], "final_return": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="different scales"):
        normalised(two, "none", references)
    unknown = pd.DataFrame({"task": ["Seaquest-MinAtar"], "final_return": [1.0]})
    with pytest.raises(ConfigError, match=r"--scores TABLE\.csv"):
        normalised(unknown, "random", references)
    user = pd.DataFrame({"env_id": ["Seaquest-MinAtar"], "random": [0.0], "reference": [10.0]})
    np.testing.assert_allclose(normalised(unknown, "random", reference_scores(user)), [0.1])


@pytest.mark.slow
def test_report_reads_every_commands_directories_and_matches_rliable(tmp_path):
    tiny = [*TINY_FLAGS, "--quiet"]
    code = f"""
    from purejaxppo.cli.app import main
    runs, tiny = {str(tmp_path)!r}, {tiny!r}
    def ok(*args):
        assert main(list(args)) == 0, args
    for env in ("CartPole-v1", "Catch-bsuite"):
        ok("train", *tiny, "--env", env, "--total-timesteps", "2560", "--num-seeds", "3",
           "--out", runs + "/ppo", "--name", env)
    ok("sweep", *tiny, "--total-timesteps", "1280", "--num-seeds", "2", "--space",
       "learning_rate=1e-3,1e-2", "--out", runs, "--name", "sweep")
    ok("pbt", *tiny, "--total-timesteps", "2560", "--population", "3", "--interval", "5",
       "--space", "learning_rate=1e-4:1e-2", "--out", runs, "--name", "pbt")
    ok("es", *tiny, "--total-timesteps", "1280", "--population", "4", "--generations", "2",
       "--num-seeds", "2", "--space", "learning_rate=1e-4:1e-2", "--out", runs, "--name", "es")
    ok("report", runs + "/ppo/CartPole-v1", runs + "/ppo/Catch-bsuite", "sweep=" + runs +
       "/sweep", "pbt=" + runs + "/pbt", "es=" + runs + "/es", "--compare", "ppo", "pbt",
       "--reps", "300", "--out", runs + "/report")
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "IQM" in proc.stdout
    out = tmp_path / "report"
    for name in ("aggregate.csv", "scores.csv", "profiles.png", "improvement.png", "report.md"):
        assert (out / name).stat().st_size > 0, name
    scores = pd.read_csv(out / "scores.csv")
    groups = set(scores.group)
    assert groups == {"ppo", "sweep learning_rate=0.001", "sweep learning_rate=0.01", "pbt", "es"}
    assert set(scores.task[scores.group == "ppo"]) == {"CartPole-v1", "Catch-bsuite"}
    assert (scores.group == "pbt").sum() == 3 and (scores.group == "es").sum() == 4
    summary = json.loads((tmp_path / "ppo" / "CartPole-v1" / "summary.json").read_text())
    mine = scores[(scores.group == "ppo") & (scores.task == "CartPole-v1")].final_return
    assert mine.mean() == pytest.approx(summary["final_return_mean"], rel=1e-5)
    table = pd.read_csv(out / "aggregate.csv").set_index("group")
    matrices = {
        group: agg.equalised(part, sorted(part.task.unique()), group).matrix
        for group, part in scores.groupby("group", sort=False)
    }
    points, intervals = _direct(matrices, 300, 0)
    for group, point in points.items():
        np.testing.assert_allclose(table.loc[group, list(agg.METRICS)].to_numpy(float), point)
        low = [f"{m}_low" for m in agg.METRICS]
        np.testing.assert_allclose(table.loc[group, low].to_numpy(float), intervals[group][0])
    text = (out / "report.md").read_text()
    assert "ppo > pbt" in text and "ES fitness final_return" in text
    assert set(scores.scored_by) == {"final_return", "ES fitness final_return"}


def test_report_refuses_what_is_not_a_finished_run_directory(tmp_path):
    from purejaxppo.cli.inspection import report_sources
    from purejaxppo.outputs.report import report

    with pytest.raises(ConfigError, match="not a run directory"):
        report_sources((str(tmp_path),))
    (tmp_path / "run.json").write_text('{"command": "train"}')
    with pytest.raises(ConfigError, match="resume"):
        report([tmp_path])
    assert report_sources((f"mine={tmp_path}",)) == {"mine": [tmp_path]}
    odd = tmp_path / "lr=0.1"  # a directory whose name holds "=" is not GROUP=DIR
    odd.mkdir()
    (odd / "run.json").write_text('{"command": "train"}')
    assert report_sources((str(odd),)) == {tmp_path.name: [odd]}
