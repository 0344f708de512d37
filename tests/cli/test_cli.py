"""The command line, end to end in subprocesses: train, eval, sweep, envs, resume, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from purejaxppo.core.trainer import METRIC_NAMES
from tests.processes import CLI, ROOT, cli
from tests.tiny import TINY_FLAGS

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

TINY = TINY_FLAGS


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    proc = cli("train", *TINY, "--total-timesteps", "1280", "--num-seeds", "3", "--out", str(out),
               "--name", "run", "--segment-updates", "4", "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "final return" in proc.stdout and "env steps/s" in proc.stdout
    return out / "run"


def test_train_writes_a_complete_run_directory(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["num_steps"] == 32 and config["env_id"] == "CartPole-v1"
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["num_runs"] == 3 and summary["env_steps"] == 3 * 1280
    assert summary["versions"]["jax"] and summary["devices"]
    assert len(summary["final_return_ci95"]) == 2
    metrics = pd.read_csv(trained_run / "metrics.csv")
    assert list(metrics.columns) == ["run", "setting", "seed", "update", *METRIC_NAMES]
    assert len(metrics) == 3 * 10 and sorted(metrics["run"].unique()) == [0, 1, 2]
    assert (trained_run / "learning_curve.png").stat().st_size > 10_000
    assert (trained_run / "final").is_dir() and (trained_run / "run.json").exists()


def test_eval_reads_the_run_back_and_writes_a_gif(trained_run):
    pytest.importorskip("pygame")  # the render extra; `make test` installs it
    gif = trained_run / "episode.gif"
    proc = cli("eval", str(trained_run), "--num-episodes", "3", "--gif", str(gif))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((trained_run / "eval.json").read_text())
    assert report["num_runs"] == 3 and len(report["per_run_mean_return"]) == 3
    assert report["ci95"][0] <= report["mean_return"] <= report["ci95"][1]
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")


def test_sweep_command(tmp_path):
    space = ["--space", "learning_rate=1e-4,1e-3"]
    size = [*TINY, "--total-timesteps", "512", "--num-seeds", "2"]
    proc = cli("sweep", *space, *size, "--out", str(tmp_path), "--name", "sweep", "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    configs = pd.read_csv(tmp_path / "sweep" / "configs.csv")
    assert list(configs["learning_rate"]) == [1e-4, 1e-3]
    assert len(pd.read_csv(tmp_path / "sweep" / "runs.csv")) == 4
    assert "best:" in proc.stdout
    best = json.loads((tmp_path / "sweep" / "best.json").read_text())
    assert isinstance(best["config"], int) and isinstance(best["num_seeds"], int)  # not 1.0


def test_envs_lists_every_environment_with_its_preset():
    proc = cli("envs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CartPole-v1" in proc.stdout and "Discrete(2)" in proc.stdout
    assert "Pendulum-v1" in proc.stdout and "Box(1)" in proc.stdout
    assert proc.stdout.count("\n") >= 26


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "--num-minibatches", "3"], "PPOConfig.num_minibatches=3"),
        (["train", "--env", "Nope-v0"], "PPOConfig.env_id='Nope-v0'"),
        (["train", "--gamma", "2"], "PPOConfig.gamma=2.0"),
        (["train", "--num-seeds", "0"], "--num-seeds=0"),
        (["train", "--preset", "Nope"], "preset='Nope'"),
        (["sweep", "--space", "num_envs=4,8"], "'num_envs' is a static field"),
        (["sweep", "--space", "learning_rate"], "--space 'learning_rate'"),
        (["eval", "no/such/run"], "config.json' does not exist"),
        (["resume", "no/such/run"], "run.json' does not exist"),
    ],
)
def test_bad_values_print_the_fix_and_exit_2(args, expected):
    proc = cli(*args, timeout=120)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert expected in proc.stderr and "Fix:" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [["train", "--no-such-flag", "1"], ["frobnicate"], []])
def test_unknown_flags_and_commands_exit_2(args):
    proc = cli(*args, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_preset_flag_and_overrides(tmp_path):
    size = ["--total-timesteps", "2048", "--num-seeds", "1", "--segment-updates", "1"]
    proc = cli("train", "--preset", "Pendulum-v1", *size, "--out", str(tmp_path), "--name", "p")
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((tmp_path / "p" / "config.json").read_text())
    assert config["env_id"] == "Pendulum-v1" and config["normalize_obs"] is True
    assert config["total_timesteps"] == 2048  # the flag overrides the preset's budget


def _final_outputs(run_dir: Path) -> tuple[pd.DataFrame, dict]:
    from purejaxppo.outputs.rundirs import load_final

    _, params, obs_stats = load_final(run_dir)
    return pd.read_csv(run_dir / "metrics.csv"), {"params": params, "obs": obs_stats}


def test_killed_and_resumed_run_ends_bit_identical(tmp_path):
    size = [*TINY, "--total-timesteps", str(4 * 32 * 120), "--num-seeds", "2", "--quiet"]
    loop = ["--segment-updates", "4", "--checkpoint-every", "4", "--out", str(tmp_path)]
    flags = [*size, *loop]
    whole = cli("train", *flags, "--name", "whole")
    assert whole.returncode == 0, whole.stderr[-3000:]

    env = {**os.environ, "XLA_FLAGS": ""}
    victim = subprocess.Popen(
        [*CLI, "train", *flags, "--name", "killed"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    state = tmp_path / "killed" / "checkpoints" / "state"
    deadline = time.time() + 240
    while time.time() < deadline and not (state.exists() and any(state.glob("[0-9]*"))):
        time.sleep(0.05)
    time.sleep(0.3)  # let it get a few segments further
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "final").exists(), "the run finished before it was killed"

    resumed = cli("resume", str(tmp_path / "killed"), "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole_metrics, whole_state = _final_outputs(tmp_path / "whole")
    resumed_metrics, resumed_state = _final_outputs(tmp_path / "killed")
    pd.testing.assert_frame_equal(whole_metrics, resumed_metrics, check_exact=True)
    import jax

    for a, b in zip(jax.tree.leaves(whole_state), jax.tree.leaves(resumed_state), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:use_cpu_cores")
def test_an_unexpected_error_ends_on_our_message_with_the_traceback_in_a_log(monkeypatch, capsys):
    import logging

    from purejaxppo.base import logs
    from purejaxppo.cli import app as cli_module
    from purejaxppo.cli import inspection

    def broken(command) -> int:
        logging.getLogger("orbax").warning("noise a library prints")
        raise RuntimeError("something broke")

    monkeypatch.setattr(inspection, "run_envs", broken)
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    monkeypatch.setattr(logging.root, "level", logging.root.level)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    monkeypatch.setattr(logs, "_handler", None)
    assert cli_module.main(["envs"]) == 1
    err = capsys.readouterr().err
    assert "noise" not in err and "Traceback" not in err
    last = err.strip().splitlines()
    assert last[0] == "purejaxppo: unexpected error: RuntimeError: something broke"
    log = Path(last[1].split(" is in ")[1].split(";")[0])
    text = log.read_text()
    assert "noise a library prints" in text and "Traceback" in text and "something broke" in text
    log.unlink()
