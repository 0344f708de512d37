"""`train` over many seeds and its device sharding (in subprocesses with forced CPU devices)."""

from __future__ import annotations

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
from purejaxppo import ConfigError
from purejaxppo.core.trainer import METRIC_NAMES

ROOT = Path(__file__).resolve().parents[2]


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
