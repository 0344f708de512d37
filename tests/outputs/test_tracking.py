"""Experiment tracking: the same per-update means to TensorBoard and wandb (offline), with the
config; a missing extra is named with its pip command."""

from __future__ import annotations

import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from purejaxppo import ConfigError
from purejaxppo.outputs import tracking
from tests.processes import cli

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

METRICS = {
    "episode_return": np.array([[np.nan, 10.0, 30.0], [np.nan, 20.0, np.nan]]),
    "policy_loss": np.array([[0.5, 0.25, 0.0], [1.5, 0.75, 1.0]]),
    "env_steps": np.array([[512, 1024, 1536], [512, 1024, 1536]]),
}


def test_per_update_means_skip_runs_without_a_value():
    steps, means = tracking.per_update_means(METRICS)
    np.testing.assert_array_equal(steps, [512, 1024, 1536])
    np.testing.assert_array_equal(means["episode_return"], [np.nan, 15.0, 30.0])
    np.testing.assert_array_equal(means["policy_loss"], [1.0, 0.5, 0.5])
    assert "env_steps" not in means


def tensorboard_scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    """Read the event files back (TFRecord framing: length, crc, event, crc)."""
    from tensorboardX.proto import event_pb2

    found: dict[str, list[tuple[int, float]]] = {}
    for path in directory.glob("events.out.tfevents.*"):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                found.setdefault(value.tag, []).append((event.step, value.simple_value))
    return found


def test_tensorboard_gets_the_means_against_env_steps(tmp_path):
    pytest.importorskip("tensorboardX")  # the tensorboard extra; `make test` installs it
    tracking.write_tensorboard(METRICS, tmp_path)
    scalars = tensorboard_scalars(tmp_path)
    assert scalars["train/episode_return"] == [(1024, 15.0), (1536, 30.0)]
    assert scalars["train/policy_loss"] == [(512, 1.0), (1024, 0.5), (1536, 0.5)]


class FakeRun:
    def __init__(self, **kwargs):
        self.init = kwargs
        self.logged: list[dict] = []
        self.dir = str(Path(kwargs["dir"]) / "wandb" / "offline-run-x" / "files")
        self.finished = False

    def define_metric(self, *args, **kwargs):
        pass

    def log(self, row):
        self.logged.append(row)

    def finish(self):
        self.finished = True


def test_wandb_gets_the_same_means_and_the_config(tmp_path, monkeypatch):
    runs = []
    fake = types.SimpleNamespace(
        init=lambda **kwargs: runs.append(FakeRun(**kwargs)) or runs[-1],
        Settings=lambda **kwargs: kwargs,
    )
    monkeypatch.setitem(sys.modules, "wandb", fake)
    tracking.write_wandb(METRICS, {"env_id": "CartPole-v1"}, tmp_path, "proj", "run-a")
    (run,) = runs
    assert run.init["config"] == {"env_id": "CartPole-v1"} and run.init["mode"] == "offline"
    assert run.init["project"] == "proj" and run.init["name"] == "run-a" and run.finished
    assert run.logged == [
        {"env_steps": 512, "train/policy_loss": 1.0},
        {"env_steps": 1024, "train/episode_return": 15.0, "train/policy_loss": 0.5},
        {"env_steps": 1536, "train/episode_return": 30.0, "train/policy_loss": 0.5},
    ]


def test_a_missing_extra_names_its_pip_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ConfigError, match=r"pip install 'purejaxppo\[wandb\]'"):
        tracking.write_wandb(METRICS, {}, tmp_path, "p", "n")
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ConfigError, match=r"pip install 'purejaxppo\[tensorboard\]'"):
        tracking.write_tensorboard(METRICS, tmp_path)


def test_train_command_writes_both_offline(tmp_path):
    proc = cli("train", "--num-envs", "4", "--num-steps", "32", "--num-minibatches", "2",
               "--total-timesteps", "1024", "--num-seeds", "2", "--tensorboard", "--wandb",
               "--out", str(tmp_path), "--name", "tracked", "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "tracked"
    assert "train/policy_loss" in tensorboard_scalars(run / "tensorboard")
    (log,) = (run / "wandb").glob("offline-run-*/run-*.wandb")
    assert log.stat().st_size > 1000
