"""The fault matrix: what a careful user tries, the exit status and message it must give, and the
files that must stay unchanged."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

import purejaxppo
from purejaxppo import ConfigError, PPOConfig
from purejaxppo.outputs.rundirs import create_run_directory
from tests.processes import CLI, cli
from tests.tiny import TINY_FLAGS

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TINY = TINY_FLAGS
SMALL = [*TINY, "--total-timesteps", "1280", "--num-seeds", "2", "--quiet"]


def digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def strict_json(path: Path):
    """The file as a strict JSON parser reads it (NaN and Infinity are not JSON)."""

    def refuse(name: str):
        raise ValueError(f"{path.name} holds a bare {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    proc = cli(
        "train",
        *SMALL,
        "--segment-updates",
        "2",
        "--checkpoint-every",
        "2",
        "--out",
        str(out),
        "--name",
        "ref",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "ref"


# ------------------------------------------------------------------------- divergence
def test_diverged_training_is_said_and_exits_3(tmp_path):
    flags = ["--env", "Pendulum-v1", "--learning-rate", "1e3", "--max-grad-norm", "1e10"]
    proc = cli("train", *SMALL, *flags, "--out", str(tmp_path), "--name", "nan")
    assert proc.returncode == 3, (proc.stdout, proc.stderr[-2000:])
    assert "2 of 2 runs diverged" in proc.stderr and "Traceback" not in proc.stderr
    summary = strict_json(tmp_path / "nan" / "summary.json")
    assert summary["diverged_runs"] == 2 and summary["first_nonfinite_update"] == 0
    assert summary["final_return_mean"] is None  # never 0.00, and never a bare NaN
    assert summary["nonfinite_values_written_as_null"] >= 1
    assert "0.00 [0.00, 0.00]" not in proc.stdout
    proc = cli("eval", str(tmp_path / "nan"), "--num-episodes", "1")
    assert proc.returncode == 3 and "2 of 2 runs have non-finite parameters" in proc.stderr
    assert strict_json(tmp_path / "nan" / "eval.json")["per_run_mean_return"] == [None, None]


def test_learning_curves_leave_diverged_runs_out_of_the_band_and_mark_them(tmp_path, monkeypatch):
    from purejaxppo.outputs import plots

    drawn = []
    real = plots._figure

    def keep(*args):
        figure = real(*args)
        drawn.append(figure[2])
        return figure

    monkeypatch.setattr(plots, "_figure", keep)
    returns = np.stack([np.arange(10.0), np.arange(10.0) + 2, np.full(10, 500.0)])
    plots.plot_learning_curves(
        np.arange(10) * 100,
        returns,
        np.zeros(3, int),
        tmp_path / "c.png",
        "t",
        diverged_at=np.array([-1, -1, 4]),
    )
    ax = drawn[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.arange(10.0) + 1)  # runs 0 and 1
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["diverged: 1 of 3 runs (left out of the mean)"]
    assert len(ax.lines[1].get_xdata()) == 5  # drawn up to the update where it diverged


def test_diverged_runs_are_left_out_of_the_mean_not_counted_as_zero():
    config = PPOConfig(num_envs=4, num_steps=32, total_timesteps=1280, num_minibatches=2)
    bad = config.replace(learning_rate=1e30, max_grad_norm=1e30).hparams
    settings = purejaxppo.HyperParams.stack([config.hparams, bad])
    result = purejaxppo.train(config, num_seeds=2, hparams=settings)
    np.testing.assert_array_equal(result.first_nonfinite_update >= 0, [False, False, True, True])
    assert np.isnan(result.final_returns[2:]).all() and result.final_return.num_runs == 2
    assert result.summary()["diverged_runs"] == 2


# ------------------------------------------------------------------------- run directories
def test_an_existing_name_is_refused_and_the_old_run_is_untouched(finished):
    before = digest(finished)
    proc = cli("train", *SMALL, "--out", str(finished.parent), "--name", "ref")
    assert proc.returncode == 2 and "already exists" in proc.stderr and "resume" in proc.stderr
    assert digest(finished) == before


def test_default_names_never_collide(tmp_path):
    names = {create_run_directory(tmp_path, None, "CartPole-v1").name for _ in range(20)}
    assert len(names) == 20


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_an_output_path_that_is_a_file_is_refused_before_training(command, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    space = ["--space", "learning_rate=1e-4,1e-3"] if command == "sweep" else []
    proc = cli(command, *SMALL, *space, "--out", str(target / "sub"))
    assert proc.returncode == 2 and "is a file" in proc.stderr and "Traceback" not in proc.stderr
    assert target.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only directories")
def test_a_read_only_output_directory_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    proc = cli("train", *SMALL, "--out", str(locked))
    assert proc.returncode == 2 and "not writable" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--num-seeds", "0"],
        ["--segment-updates", "0"],
        ["--checkpoint-every", "3"],
        ["--network", "cnn"],
        ["--progress-every", "0"],
    ],
)
def test_a_refused_value_leaves_nothing(args, tmp_path):
    proc = cli("train", *TINY, "--total-timesteps", "1280", *args, "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Fix:" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_a_directory_in_use_is_refused_with_the_holders_pid(finished, tmp_path):
    import fcntl

    run = Path(shutil.copytree(finished, tmp_path / "run"))
    (run / "summary.json").unlink()
    with (run / ".lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242")
        held.flush()
        proc = cli("resume", str(run))
    assert proc.returncode == 2 and "in use by pid 4242" in proc.stderr, proc.stderr[-2000:]
    assert (run / "checkpoints" / "chunks").exists()


@pytest.mark.parametrize("lost", [("final",), ("summary.json", "final", "learning_curve.png")])
def test_resume_writes_missing_results_again_from_the_checkpoint(lost, finished, tmp_path):
    # A signal between the results' files, or a user deleting one: `resume` completes them.
    run = Path(shutil.copytree(finished, tmp_path / "run"))
    for name in lost:
        path = run / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    proc = cli("resume", str(run), "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert all((run / name).exists() for name in lost)
    expected = pd.read_csv(finished / "metrics.csv")
    pd.testing.assert_frame_equal(expected, pd.read_csv(run / "metrics.csv"), check_exact=True)
    assert cli("eval", str(run), "--num-episodes", "1").returncode == 0


def test_a_failure_after_training_keeps_the_finished_checkpoint(tmp_path):
    from purejaxppo.outputs.rundirs import guarded

    run = tmp_path / "run"
    (run / "checkpoints" / "chunks" / "00000").mkdir(parents=True)
    (run / "checkpoints" / "chunks" / "00000" / "data").write_text("results")

    def fails_while_writing_results() -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        guarded(run, False, fails_while_writing_results)
    assert (run / "checkpoints" / "chunks" / "00000" / "data").exists()


def test_a_second_signal_leaves_no_partial_checkpoint_and_says_how_to_resume(tmp_path, capsys):
    from purejaxppo.engine.interrupt import Interrupted
    from purejaxppo.outputs.rundirs import guarded

    run = tmp_path / "my run"
    state = run / "checkpoints" / "state"
    (state / "3").mkdir(parents=True)
    (state / "3" / "data").write_text("saved")

    def stopped_mid_write() -> int:
        (state / "4.orbax-checkpoint-tmp-123").mkdir()
        raise Interrupted(signal.SIGINT, saved=False)

    assert guarded(run, False, stopped_mid_write) == 130
    assert not list(state.glob("*tmp*")) and (state / "3" / "data").exists()
    assert f"purejaxppo resume '{run}'" in capsys.readouterr().out


REFUSED_UP_FRONT = {
    "space given twice": (
        ["sweep", "--space", "learning_rate=1e-4", "--space", "gamma=0.9,0.99"],
        "given 2 times",
    ),
    "a field twice in one space": (["sweep", "--space", "gamma=0.9", "gamma=0.99"], "given twice"),
    "num-samples in grid mode": (
        ["sweep", "--space", "gamma=0.9,0.99", "--num-samples", "3"],
        "--num-samples=3",
    ),
    "a probability above 1": (
        ["pbt", "--interval", "2", "--resample-probability", "2"],
        "--resample-probability=2",
    ),
    "overlapping PBT sets": (
        ["pbt", "--interval", "2", "--population", "3", "--fraction", "0.5"],
        "would overlap",
    ),
    "a seed jax wraps around": (["train", "--seed", str(2**40)], "--seed=1099511627776"),
    "a preset for another env": (
        ["train", "--preset", "Pendulum-v1", "--env", "CartPole-v1"],
        "--preset-for-another-env",
    ),
    "a tracking extra that is missing": (["train", "--tensorboard"], "pip install"),
}


@pytest.mark.parametrize("case", sorted(REFUSED_UP_FRONT))
def test_inputs_that_would_be_silently_wrong_are_refused_up_front(case, tmp_path):
    args, says = REFUSED_UP_FRONT[case]
    env = {"PYTHONPATH": str(tmp_path / "hide")} if "extra" in case else None
    if env:  # a tensorboardX that cannot be imported, as on a machine without the extra
        (tmp_path / "hide" / "tensorboardX").mkdir(parents=True)
        (tmp_path / "hide" / "tensorboardX" / "__init__.py").write_text("raise ImportError")
    proc = cli(*args, *TINY, "--total-timesteps", "1280", "--out", str(tmp_path / "o"), env=env)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--env-id", "NotAnEnv"], "--env-id='NotAnEnv'"),
        (["--out", "/etc/hostname/t.md"], "a file"),
    ],
)
def test_bench_checks_its_inputs_before_measuring(args, says):
    proc = cli("bench", "--seeds", "1", "--total-timesteps", "1280", *args)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr[-2000:]


def test_eval_checks_the_gif_path_before_evaluating(finished, tmp_path):
    proc = cli("eval", str(finished), "--gif", str(tmp_path))
    assert proc.returncode == 2 and "is a directory" in proc.stderr, proc.stderr[-2000:]
    assert not (finished / "eval.json").exists()


def test_traced_hyperparameters_are_range_checked_on_the_host():
    config = PPOConfig(num_envs=4, num_steps=32, total_timesteps=1280, num_minibatches=2)
    bad = config.hparams.replace(learning_rate=np.float32(-1e-3))
    with pytest.raises(ConfigError, match=r"hparams.learning_rate=-0.001: must be > 0"):
        purejaxppo.train(config, hparams=bad)
    stacked = purejaxppo.HyperParams.stack([config.hparams, config.hparams.replace(gamma=1.5)])
    with pytest.raises(ConfigError, match=r"hparams.gamma\[1\]=1.5"):
        purejaxppo.train(config, hparams=stacked)
    with pytest.raises(ConfigError, match="a dict, not a HyperParams"):
        purejaxppo.train(config, hparams={"learning_rate": 1e-3})


def test_pbt_explore_never_leaves_the_users_range():
    from purejaxppo.search.space import Range, explore

    value = jax.numpy.full((1000,), 9e-4)
    new = explore(jax.random.key(0), "learning_rate", value, Range(1e-4, 1e-3), (0.8, 1.2), 0.25)
    assert new.max() <= np.float32(1e-3) and new.min() >= np.float32(1e-4)


# ------------------------------------------------------------------------- resume
def test_resume_of_a_finished_run_changes_nothing(finished):
    before = digest(finished)
    proc = cli("resume", str(finished))
    assert proc.returncode == 0 and "has finished" in proc.stdout
    assert digest(finished) == before


TWO_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
LONG = [
    *TINY,
    "--total-timesteps",
    str(4 * 32 * 160),
    "--num-seeds",
    "2",
    "--quiet",
    "--segment-updates",
    "4",
    "--checkpoint-every",
    "4",
]


@pytest.fixture(scope="module")
def stopped_once(tmp_path_factory) -> Path:
    """A train on 2 devices stopped by SIGTERM after its first checkpoint (exit status 143)."""
    out = tmp_path_factory.mktemp("stopped")
    command = [*CLI, "train", *LONG, "--out", str(out), "--name", "run"]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **TWO_DEVICES},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state = out / "run" / "checkpoints" / "state"
    deadline = time.time() + 240
    while time.time() < deadline and not (state.exists() and any(state.glob("[0-9]*"))):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, (stdout, stderr[-2000:])
    assert "purejaxppo resume" in stdout and not (out / "run" / "summary.json").exists()
    return out / "run"


@pytest.fixture
def stopped(stopped_once, tmp_path) -> Path:
    """A fresh copy of the stopped run for one test to resume or damage."""
    return Path(shutil.copytree(stopped_once, tmp_path / "run"))


def test_sigterm_checkpoints_and_resume_ends_like_an_uninterrupted_run(stopped, tmp_path):
    resumed = cli("resume", str(stopped), "--quiet", env=TWO_DEVICES)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole = cli("train", *LONG, "--out", str(tmp_path), "--name", "whole", env=TWO_DEVICES)
    assert whole.returncode == 0
    expected = pd.read_csv(tmp_path / "whole" / "metrics.csv")
    pd.testing.assert_frame_equal(expected, pd.read_csv(stopped / "metrics.csv"), check_exact=True)
    # A damaged newest checkpoint: the one before it is used, and the damaged one set aside.
    for name in ("summary.json", "metrics.csv"):
        (stopped / name).unlink()
    shutil.rmtree(stopped / "final")
    shutil.rmtree(stopped / "checkpoints" / "chunks")
    state = stopped / "checkpoints" / "state"
    steps = sorted((p for p in state.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    assert len(steps) >= 2
    for file in (f for f in steps[-1].rglob("*") if f.is_file()):
        file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    proc = cli("resume", str(stopped), "--quiet", env=TWO_DEVICES)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "is damaged" in proc.stderr and steps[-1].name in proc.stderr
    assert "Traceback" not in proc.stderr and "Event loop is closed" not in proc.stderr
    pd.testing.assert_frame_equal(expected, pd.read_csv(stopped / "metrics.csv"), check_exact=True)


def test_every_checkpoint_damaged_is_said(stopped):
    for file in (f for f in (stopped / "checkpoints" / "state").rglob("*") if f.is_file()):
        file.write_bytes(b"")
    proc = cli("resume", str(stopped), "--quiet", env=TWO_DEVICES)
    assert proc.returncode == 2 and "no usable checkpoint" in proc.stderr, proc.stderr[-2000:]


def test_resume_refuses_another_number_of_devices_and_a_changed_config(stopped):
    one = {"XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    proc = cli("resume", str(stopped), env=one)
    assert proc.returncode == 2 and "2 device(s)" in proc.stderr
    record = json.loads((stopped / "run.json").read_text())
    record["config"]["learning_rate"] = 1e-3
    (stopped / "run.json").write_text(json.dumps(record))
    proc = cli("resume", str(stopped), env=TWO_DEVICES)
    assert proc.returncode == 2 and "different: config" in proc.stderr


def test_a_missing_fingerprint_refuses_the_resume_instead_of_mixing_runs(stopped):
    (stopped / "checkpoints" / "fingerprint.json").unlink()
    record = json.loads((stopped / "run.json").read_text())
    record["config"]["learning_rate"] = 1e-3
    (stopped / "run.json").write_text(json.dumps(record))
    proc = cli("resume", str(stopped), env=TWO_DEVICES)
    assert proc.returncode == 2 and "fingerprint.json' is missing" in proc.stderr, proc.stderr
    assert any((stopped / "checkpoints" / "state").iterdir())


@pytest.mark.parametrize("name", ["run.json", "checkpoints/fingerprint.json"])
def test_a_corrupt_record_names_the_file_and_the_fix(name, stopped):
    (stopped / name).write_text("{not json")
    proc = cli("resume", str(stopped), env=TWO_DEVICES)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert Path(name).name in proc.stderr and "Fix:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_full_disk_during_a_checkpoint_is_said_and_the_last_one_kept(tmp_path, monkeypatch):
    import orbax.checkpoint as ocp

    config = PPOConfig(num_envs=4, num_steps=32, total_timesteps=4 * 32 * 12, num_minibatches=2)
    real_save, calls = ocp.CheckpointManager.save, []

    def save(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    with pytest.raises(ConfigError, match="No space left on device") as error:
        purejaxppo.train(config, num_seeds=2, checkpoint_dir=tmp_path, segment_updates=2)
    assert "previous checkpoint is intact" in str(error.value)
    monkeypatch.setattr(ocp.CheckpointManager, "save", real_save)
    resumed = purejaxppo.train(config, num_seeds=2, checkpoint_dir=tmp_path, segment_updates=2)
    whole = purejaxppo.train(config, num_seeds=2)
    np.testing.assert_array_equal(
        resumed.metrics["episode_return"], whole.metrics["episode_return"]
    )


# ------------------------------------------------------------------------- small ones
def test_small_ones(finished, tmp_path):
    proc = cli("eval", str(finished), "--num-episodes", "0")
    assert proc.returncode == 2 and "--num-episodes=0" in proc.stderr
    piped = subprocess.run(
        f"{sys.executable} -m purejaxppo.cli train --help | head -3",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr
    envs = cli("envs")
    assert envs.returncode == 0
    assert all("warp" not in line.lower() for line in envs.stdout.splitlines())
    bad = cli("train", *TINY, "--learning-rate", "inf", "--out", str(tmp_path))
    assert bad.returncode == 2 and "must be a finite number" in bad.stderr
