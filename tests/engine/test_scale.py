"""Many runs at once: chunking from the memory analysis, 4096 seeds, two processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import purejaxppo
import purejaxppo.engine.runner as engine
from purejaxppo import ConfigError
from purejaxppo.core.trainer import METRIC_NAMES

# Loss diagnostics are means over a minibatch, summed in an order XLA:CPU picks from the shape of
# the whole vmapped batch: with another number of runs per chunk they may differ in the last
# float32 bit. Training itself (parameters, episodes, returns) is bit-identical.
BATCH_SHAPE_SENSITIVE = {
    "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance"
}  # fmt: skip


def assert_same_runs(a, b):
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)
    for name in METRIC_NAMES:
        if name in BATCH_SHAPE_SENSITIVE:
            np.testing.assert_allclose(
                a.metrics[name], b.metrics[name], rtol=1e-5, atol=1e-6, err_msg=name
            )
        else:
            np.testing.assert_array_equal(a.metrics[name], b.metrics[name], err_msg=name)


@pytest.fixture(scope="module")
def unchunked(small_config):
    return purejaxppo.train(small_config, num_seeds=5, key=3)


ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_chunked_equals_unchunked(small_config, unchunked):
    chunked = purejaxppo.train(small_config, num_seeds=5, key=3, max_runs_per_chunk=2)
    assert (chunked.runs_per_chunk, chunked.num_chunks) == (2, 3)
    assert unchunked.num_chunks == 1
    assert_same_runs(chunked, unchunked)


@pytest.mark.slow
def test_chunks_are_sized_from_the_memory_analysis(small_config, unchunked, monkeypatch):
    # Pretend the budget holds half of what the first compile (all 5 runs) needs: 2.5 runs.
    measured = []
    real = engine.executable_bytes
    monkeypatch.setattr(
        engine, "executable_bytes", lambda c: measured.append(real(c)) or measured[-1]
    )
    monkeypatch.setattr(
        engine,
        "device_available_bytes",
        lambda devices: int(0.5 * measured[0] / engine.MEMORY_FRACTION),
    )
    planned = purejaxppo.train(small_config, num_seeds=5, key=3)
    assert (planned.runs_per_chunk, planned.num_chunks) == (2, 3)
    assert_same_runs(planned, unchunked)


@pytest.mark.slow
def test_bad_chunk_size_is_rejected(small_config):
    with pytest.raises(ConfigError, match="max_runs_per_chunk=0"):
        purejaxppo.train(small_config, num_seeds=2, max_runs_per_chunk=0)


@pytest.mark.slow
def test_4096_cartpole_seeds_fit_in_memory():
    # Memory per run does not depend on total_timesteps (see test_envs), so two updates of the
    # default CartPole config show whether 4096 runs fit; the peak is measured in a fresh process.
    code = """
        import json, resource, numpy as np, purejaxppo
        config = purejaxppo.PPOConfig(total_timesteps=1024)
        result = purejaxppo.train(config, num_seeds=4096, key=0)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps({"runs": result.num_runs, "shape": result.metrics["env_steps"].shape,
                          "chunks": result.num_chunks, "rss": rss,
                          "finite": bool(np.isfinite(result.metrics["policy_loss"]).all())}))
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["runs"] == 4096 and out["shape"] == [4096, 2] and out["finite"]
    assert out["rss"] < 12 * 2**30, out  # half of this 24 GiB machine


@pytest.mark.slow
def test_two_processes_with_jax_distributed_match_one_process(small_config):
    port = free_port()
    args = [str(2), str(port), json.dumps(small_config.to_dict()), "4"]
    env = {**os.environ, "XLA_FLAGS": ""}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.multihost_worker", str(i), *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(2)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    together = json.loads(outputs[0][0].strip().splitlines()[-1])
    assert together["processes"] == 2 and len(together["devices"]) == 2
    alone = purejaxppo.train(small_config, num_seeds=4, key=jax.random.key(9))
    np.testing.assert_allclose(together["loss"], alone.metrics["policy_loss"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(together["ret"], alone.metrics["episode_return"], rtol=1e-5)
