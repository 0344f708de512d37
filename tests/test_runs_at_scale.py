"""Many runs at once: chunking, 4096 seeds, multi-process, sweeps and population-based training."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import purejaxppo
import purejaxppo.engine.runner as engine
from purejaxppo import ConfigError, HyperParams, PPOConfig
from purejaxppo.core.trainer import METRIC_NAMES, make_train_functions
from purejaxppo.search.pbt import exploit_and_explore, pbt
from purejaxppo.search.space import Range, sample_settings
from purejaxppo.search.sweep import sweep

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


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


def test_chunked_equals_unchunked(small_config, unchunked):
    chunked = purejaxppo.train(small_config, num_seeds=5, key=3, max_runs_per_chunk=2)
    assert (chunked.runs_per_chunk, chunked.num_chunks) == (2, 3)
    assert unchunked.num_chunks == 1
    assert_same_runs(chunked, unchunked)


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


def test_bad_chunk_size_is_rejected(small_config):
    with pytest.raises(ConfigError, match="max_runs_per_chunk=0"):
        purejaxppo.train(small_config, num_seeds=2, max_runs_per_chunk=0)


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


# ------------------------------------------------------------------------------------ sweeps
def test_grid_order_and_shape(small_config):
    settings = sample_settings(
        small_config, {"learning_rate": [1e-4, 1e-3], "ent_coef": [0.0, 0.01, 0.02]}
    )
    assert len(settings) == 6
    assert [s["learning_rate"] for s in settings] == [1e-4] * 3 + [1e-3] * 3  # first key slowest
    assert [s["ent_coef"] for s in settings[:3]] == [0.0, 0.01, 0.02]


def test_random_sampling_is_in_range_log_uniform_and_reproducible(small_config):
    space = {"learning_rate": Range(1e-5, 1e-2), "gamma": Range(0.9, 0.999), "vf_coef": [0.5, 1.0]}
    a = sample_settings(small_config, space, "random", 400, key=jax.random.key(1))
    b = sample_settings(small_config, space, "random", 400, key=jax.random.key(1))
    c = sample_settings(small_config, space, "random", 400, key=jax.random.key(2))
    assert a == b and a != c
    lr = np.array([s["learning_rate"] for s in a])
    gamma = np.array([s["gamma"] for s in a])
    assert lr.min() >= 1e-5 and lr.max() <= 1e-2 and gamma.min() >= 0.9 and gamma.max() <= 0.999
    # log-uniform: about a third of the samples in each decade
    assert 0.2 < np.mean(lr < 1e-4) < 0.45 and 0.2 < np.mean(lr > 1e-3) < 0.45
    assert set(s["vf_coef"] for s in a) == {0.5, 1.0}


@pytest.mark.parametrize(
    ("space", "mode", "message"),
    [
        ({"num_envs": [4, 8]}, "grid", "'num_envs' is a static field"),
        ({"bogus": [1.0]}, "grid", "'bogus' is not a hyperparameter"),
        ({"learning_rate": Range(1e-4, 1e-3)}, "grid", "a grid cannot enumerate"),
        ({"learning_rate": Range(0.0, 1e-3)}, "random", "low > 0 for a log range"),
        ({"gamma": [0.9, 1.5]}, "grid", "PPOConfig.gamma=1.5"),
        ({"learning_rate": []}, "grid", "non-empty list"),
    ],
)
def test_bad_sweep_space_is_rejected(small_config, space, mode, message):
    with pytest.raises(ConfigError, match=message):
        sample_settings(small_config, space, mode, num_samples=4)


def test_sweep_returns_runs_configs_and_best(small_config):
    result = sweep(small_config, {"learning_rate": [1e-4, 1e-3, 1e-2]}, num_seeds=3, key=0)
    runs, configs = result.runs, result.configs
    assert len(runs) == 9 and list(runs["config"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert list(runs["seed"]) == [0, 1, 2] * 3
    np.testing.assert_allclose(runs["learning_rate"], np.repeat([1e-4, 1e-3, 1e-2], 3), rtol=1e-6)
    assert {"final_return", "auc"} <= set(runs.columns)
    assert list(configs.columns[:2]) == ["config", "learning_rate"]
    assert {"mean", "iqm", "ci_low", "ci_high", "auc", "num_seeds"} <= set(configs.columns)
    for _, row in configs.iterrows():
        if row["num_seeds"] > 1:
            assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert result.best["mean"] == configs["mean"].max()
    # Each run equals the same setting trained alone (one compile covered all settings).
    alone = purejaxppo.train(
        small_config, num_seeds=3, key=jax.random.split(jax.random.key(0))[1],
        hparams=small_config.replace(learning_rate=1e-3).hparams,
    )  # fmt: skip
    np.testing.assert_allclose(
        result.result.metrics["policy_loss"][3:6],
        alone.metrics["policy_loss"],
        rtol=1e-5,
        atol=1e-6,
    )


# ---------------------------------------------------------------------- population-based training
def test_exploit_copies_the_state_of_a_top_member(small_config):
    functions = make_train_functions(small_config)
    states = jax.vmap(functions.init)(jax.random.split(jax.random.key(0), 4))
    # Tag every member's parameters and statistics with its index to see who copied whom.
    tag = lambda tree: jax.tree.map(  # noqa: E731
        lambda x: x * 0 + jnp.arange(4, dtype=x.dtype).reshape((4,) + (1,) * (x.ndim - 1)), tree
    )
    env_loop = states.env_loop
    states = states.replace(
        params=tag(states.params),
        env_loop=env_loop.replace(obs_stats=tag(env_loop.obs_stats)),
    )
    hparams = HyperParams.stack([small_config.replace(learning_rate=lr).hparams
                                 for lr in (1e-4, 2e-4, 3e-4, 4e-4)])  # fmt: skip
    fitness = jnp.array([3.0, jnp.nan, 2.0, 5.0])  # worst: member 1 (NaN); best: member 3
    new_states, new_hparams, parents = exploit_and_explore(
        jax.random.key(1), states, hparams, fitness, {"learning_rate": Range(1e-5, 1e-2)},
        fraction=0.25, perturb_factors=(0.5, 2.0), resample_probability=0.0,
    )  # fmt: skip
    np.testing.assert_array_equal(parents, [0, 3, 2, 3])
    for leaf in jax.tree.leaves(new_states.params):
        np.testing.assert_array_equal(leaf[:, ...].reshape(4, -1)[:, 0], [0, 3, 2, 3])
    np.testing.assert_array_equal(new_states.env_loop.obs_stats.mean[:, 0], [0, 3, 2, 3])
    for old, new in zip(jax.tree.leaves(states.opt_state), jax.tree.leaves(new_states.opt_state),
                        strict=True):  # fmt: skip
        np.testing.assert_array_equal(new[1], old[3])
    # The env keeps running its own episodes: env state is not copied.
    for old, new in zip(jax.tree.leaves(states.env_loop.env_state),
                        jax.tree.leaves(new_states.env_loop.env_state), strict=True):  # fmt: skip
        np.testing.assert_array_equal(old, new)
    lr = np.asarray(new_hparams.learning_rate)
    np.testing.assert_allclose(lr[[0, 2, 3]], [1e-4, 3e-4, 4e-4], rtol=1e-6)  # kept
    assert np.isclose(lr[1], 2e-4, rtol=1e-6) or np.isclose(lr[1], 8e-4, rtol=1e-6)  # 4e-4 x 0.5|2


def test_pbt_replaces_a_bad_learning_rate_on_cartpole():
    config = PPOConfig()
    good, bad = config.learning_rate, 1e-6
    start = [bad] * 4 + [good] * 4
    hparams = HyperParams.stack([config.replace(learning_rate=lr).hparams for lr in start])
    result = pbt(config, population=8, space={"learning_rate": Range(1e-5, 1e-3)}, interval=25,
                 hparams=hparams, key=0)  # fmt: skip
    generations = -(-config.num_updates // 25)  # the last generation is shorter
    assert result.hparams["learning_rate"].shape == (generations + 1, 8)
    assert result.parents.shape == (generations, 8)
    # Follow each member's lineage back to generation 0: all descend from a good learning rate.
    ancestor = np.arange(8)
    for parents in result.parents[::-1]:
        ancestor = parents[ancestor]
    assert np.all(ancestor >= 4), ancestor
    assert np.all(result.hparams["learning_rate"][-1] > 1e-5)
    final = purejaxppo.final_returns(
        result.metrics["episode_return"], result.metrics["episodes_finished"]
    )
    fixed = purejaxppo.train(config, num_seeds=4, key=0).final_returns
    assert np.median(final) >= np.mean(fixed) - 25.0, (final, fixed)
