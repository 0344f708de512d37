"""The many-seeds runner, its device sharding (in a subprocess with 2 CPU devices) and the CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import purejaxppo
from purejaxppo import ConfigError, mean_interval
from purejaxppo.trainer import METRIC_NAMES

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "purejaxppo.cli"]
TINY_FLAGS = [
    "--num-envs",
    "4",
    "--num-steps",
    "32",
    "--total-timesteps",
    "512",
    "--num-minibatches",
    "2",
]


def run_python(code: str, env_extra: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_runner_equals_direct_vmap(small_config, small_train_seeds):
    result = purejaxppo.train(small_config, num_seeds=3, key=jax.random.key(9))
    direct = small_train_seeds(jax.random.split(jax.random.key(9), 3), small_config.hparams)
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(result.metrics[name], np.asarray(direct.metrics[name]))
    assert result.metrics["env_steps"].shape == (3, small_config.num_updates)
    assert result.env_steps == 3 * small_config.env_steps
    assert result.steps_per_second > 0 and result.compile_seconds > 0
    summary = result.summary()
    assert summary["num_runs"] == 3 and summary["devices"]


def test_runner_rejects_bad_num_seeds(small_config):
    with pytest.raises(ConfigError, match="num_seeds=0"):
        purejaxppo.train(small_config, num_seeds=0)


@pytest.mark.parametrize("forced_devices", [2, 4])
def test_sharded_over_cpu_devices_matches_one_device_and_does_not_hang(
    small_config, forced_devices
):
    # Several CPU devices running vmapped orthogonal inits at once deadlocked XLA:CPU's LAPACK QR
    # (see trainer.init_params); 5 seeds also exercise the padding of an uneven split.
    code = f"""
        import json, jax, numpy as np, purejaxppo
        assert len(jax.devices()) == {forced_devices}
        config = purejaxppo.PPOConfig(**{small_config.to_dict()!r})
        result = purejaxppo.train(config, num_seeds=5, key=jax.random.key(9))
        print(json.dumps({{"devices": result.devices,
                           "loss": result.metrics["policy_loss"].tolist(),
                           "ret": result.metrics["episode_return"].tolist()}}))
    """
    flags = f"--xla_force_host_platform_device_count={forced_devices}"
    proc = run_python(code, {"XLA_FLAGS": flags}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sharded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(sharded["devices"]) == forced_devices
    local = purejaxppo.train(small_config, num_seeds=5, key=jax.random.key(9))
    np.testing.assert_allclose(sharded["loss"], local.metrics["policy_loss"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sharded["ret"], local.metrics["episode_return"], rtol=1e-5)


def test_bootstrap_interval():
    interval = mean_interval(np.array([1.0, 2.0, 3.0, 4.0, np.nan]))
    assert interval.num_runs == 4 and interval.mean == 2.5
    assert 1.0 <= interval.low < 2.5 < interval.high <= 4.0
    constant = mean_interval(np.full(8, 500.0))
    assert (constant.low, constant.high) == (500.0, 500.0)


def test_cli_train_writes_results(tmp_path):
    proc = subprocess.run(
        [*CLI, "train", *TINY_FLAGS, "--num-seeds", "2", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "final return" in proc.stdout and "env steps/s" in proc.stdout
    (run_dir,) = list(tmp_path.iterdir())
    config = json.loads((run_dir / "config.json").read_text())
    assert config["num_steps"] == 32 and config["env_id"] == "CartPole-v1"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["num_runs"] == 2 and summary["env_steps"] == 2 * 512
    with open(run_dir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["run", "update", *METRIC_NAMES]
    assert len(rows) == 2 * 4  # runs x updates


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--num-minibatches", "3"], "PPOConfig.num_minibatches=3"),
        (["--env-id", "Nope-v0"], "PPOConfig.env_id='Nope-v0'"),
        (["--gamma", "2"], "PPOConfig.gamma=2.0"),
        (["--num-seeds", "0"], "num_seeds=0"),
    ],
)
def test_cli_bad_value_prints_the_fix_without_traceback(flags, expected):
    proc = subprocess.run(
        [*CLI, "train", *flags], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert expected in proc.stderr and "Fix:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_unknown_flag_exits_2():
    proc = subprocess.run(
        [*CLI, "train", "--no-such-flag", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
