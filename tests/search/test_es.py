"""Evolution strategies over hyperparameters: the encoding, the search as one compiled scan on the
engine (segments, checkpoints, resume after SIGKILL, two devices), the command, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import purejaxppo
from purejaxppo import ConfigError, Free, Range
from purejaxppo.search.strategies import Encoding, to_minimise
from tests.processes import cli, kill_after_first_checkpoint, on_two_devices
from tests.tiny import tiny_config

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TINY = tiny_config(8)
TINY_FLAGS = ["--num-envs", "4", "--num-steps", "32", "--num-minibatches", "2",
              "--total-timesteps", str(4 * 32 * 8)]  # fmt: skip
SPACE = {"learning_rate": Range(1e-4, 1e-2), "gamma": Range(0.9, 0.999)}
SEARCH = {"population": 4, "generations": 3, "num_seeds": 2, "key": 0}


@pytest.fixture(scope="module")
def search():
    return purejaxppo.es(TINY, SPACE, **SEARCH)


def test_encoding_starts_at_the_config_and_keeps_every_point_in_range():
    encoding = Encoding.of(TINY, SPACE)
    start = encoding.decode(jnp.asarray(encoding.start))
    np.testing.assert_allclose(float(start["learning_rate"]), TINY.learning_rate, rtol=1e-5)
    np.testing.assert_allclose(float(start["gamma"]), TINY.gamma, rtol=1e-6)
    far = encoding.decode(jnp.asarray([[-50.0, 50.0], [50.0, -50.0], [0.0, 0.0]]))
    assert np.all((far["learning_rate"] >= 1e-4 * 0.999) & (far["learning_rate"] <= 1e-2 * 1.001))
    assert np.all((far["gamma"] >= 0.9) & (far["gamma"] <= 0.999))
    np.testing.assert_allclose(float(far["learning_rate"][2]), 1e-3, rtol=1e-5)  # log middle
    outside = Encoding.of(TINY, {"learning_rate": Range(1e-2, 1e-1)})
    np.testing.assert_allclose(outside.start, [0.0])  # a value outside the range: the middle


def test_schedule_and_drift_fields_take_their_own_slices():
    config = TINY.replace(objective="learned_drift", drift_hidden=2,
                          ent_coef_schedule=(1.0, 1.0, 1.0))  # fmt: skip
    encoding = Encoding.of(config, {"ent_coef_schedule": Range(0.0, 2.0), "drift": Free()})
    assert encoding.size == 3 + (6 * 2 + 2 + 2)
    values = encoding.decode(jnp.zeros((5, encoding.size)))
    assert values["ent_coef_schedule"].shape == (5, 3)
    np.testing.assert_allclose(values["ent_coef_schedule"], 1.0)
    np.testing.assert_array_equal(values["drift"]["w1"][0], config.hparams.drift["w1"])


def test_a_member_without_a_score_ranks_below_the_worst():
    loss = to_minimise(jnp.asarray([3.0, jnp.nan, -1.0, 2.0]))
    assert bool(jnp.all(jnp.isfinite(loss)))
    assert int(jnp.argmax(loss)) == 1
    np.testing.assert_array_equal(to_minimise(jnp.full(3, jnp.nan)), 0.0)


def test_search_tables_and_best(search):
    assert search.fitness.shape == (3, 4)
    assert search.run_fitness.shape == search.diverged.shape == (3, 4, 2)
    assert search.hparams["learning_rate"].shape == (3, 4)
    assert search.mean["gamma"].shape == (4,)
    np.testing.assert_allclose(search.mean["learning_rate"][0], TINY.learning_rate, rtol=1e-5)
    np.testing.assert_allclose(search.fitness, search.run_fitness.mean(axis=2), rtol=1e-6)
    generation, member = search.best_index
    assert search.best_fitness == np.nanmax(search.fitness)
    assert search.best["gamma"] == pytest.approx(float(search.hparams["gamma"][generation, member]))
    # Members of one generation share seeds: identical settings would score identically.
    assert len(np.unique(search.hparams["learning_rate"])) == 12


def test_a_diverged_member_is_never_the_best():
    wild = TINY.replace(learning_rate=1e25, max_grad_norm=1e30)  # steps of ~1e20 and more diverge
    result = purejaxppo.es(
        wild, {"learning_rate": Range(1e-4, 1e38)}, population=4, generations=2, num_seeds=1,
        std_init=3.0,
    )  # fmt: skip
    assert result.diverged.any(), "no member diverged; widen the range"
    assert np.all(np.isnan(result.fitness[result.diverged[..., 0]]))
    generation, member = result.best_index
    assert not result.diverged[generation, member].any()
    assert not result.diverged.all()


def test_segments_with_checkpoints_equal_one_scan(search, tmp_path):
    again = purejaxppo.es(TINY, SPACE, **SEARCH, checkpoint_dir=tmp_path, segment_generations=2)
    np.testing.assert_array_equal(again.fitness, search.fitness)
    np.testing.assert_array_equal(again.hparams["learning_rate"], search.hparams["learning_rate"])
    np.testing.assert_array_equal(again.mean["gamma"], search.mean["gamma"])


def test_search_sharded_over_two_devices_equals_one_device(search):
    code = f"""
        import json, jax, purejaxppo
        from purejaxppo import PPOConfig, Range
        assert len(jax.devices()) == 2
        config = PPOConfig(**{TINY.to_dict()!r})
        space = {{"learning_rate": Range(1e-4, 1e-2), "gamma": Range(0.9, 0.999)}}
        result = purejaxppo.es(config, space, **{SEARCH!r})
        parts = purejaxppo.es(config, space, **{SEARCH!r}, max_runs_per_chunk=4)  # 2 per device
        print(json.dumps({{"devices": result.devices, "fitness": result.fitness.tolist(),
                           "lr": result.hparams["learning_rate"].tolist(),
                           "parts": parts.fitness.tolist()}}))
    """
    sharded = on_two_devices(code)
    np.testing.assert_allclose(sharded["lr"], search.hparams["learning_rate"], rtol=1e-5)
    np.testing.assert_allclose(sharded["fitness"], search.fitness, rtol=1e-4)
    np.testing.assert_array_equal(sharded["parts"], sharded["fitness"])


def test_a_population_trained_in_parts_equals_all_at_once(search):
    parts = purejaxppo.es(TINY, SPACE, **SEARCH, max_runs_per_chunk=2)  # 4 parts of 2 runs
    np.testing.assert_array_equal(parts.fitness, search.fitness)
    np.testing.assert_array_equal(parts.mean["learning_rate"], search.mean["learning_rate"])


def test_bad_searches_are_refused_before_training():
    with pytest.raises(ConfigError, match="continuous ranges"):
        purejaxppo.es(TINY, {"learning_rate": [1e-4, 1e-3]})
    with pytest.raises(ConfigError, match="even population"):
        purejaxppo.es(TINY, SPACE, population=5, strategy="OpenES")
    with pytest.raises(ConfigError, match="strategy='Nope'"):
        purejaxppo.es(TINY, SPACE, strategy="Nope")
    with pytest.raises(ConfigError, match="objective is 'clip'"):
        purejaxppo.es(TINY, {"drift": Free()})
    with pytest.raises(ConfigError, match="fitness='best'"):
        purejaxppo.es(TINY, SPACE, fitness="best")
    with pytest.raises(ConfigError, match="population=1"):
        purejaxppo.es(TINY, SPACE, population=1)


@pytest.mark.parametrize("strategy", ["Sep_CMA_ES", "SNES", "xNES", "Open_ES"])
def test_every_offered_strategy_runs_a_search(strategy):
    result = purejaxppo.es(TINY, {"learning_rate": Range(1e-4, 1e-2)}, population=4,
                           generations=2, num_seeds=1, strategy=strategy)  # fmt: skip
    assert np.isfinite(result.fitness).all()
    assert result.mean["learning_rate"][-1] != result.mean["learning_rate"][0]


def test_a_learned_drift_and_a_schedule_are_searched_together():
    config = TINY.replace(objective="learned_drift", drift_hidden=2, anneal_lr=False,
                          learning_rate_schedule=(1.0, 1.0))  # fmt: skip
    space = {"learning_rate_schedule": Range(0.1, 4.0), "drift": Free()}
    result = purejaxppo.es(config, space, population=4, generations=2, num_seeds=1,
                           strategy="SNES", std_init=0.1, fitness="area_under_curve")  # fmt: skip
    assert result.hparams["learning_rate_schedule"].shape == (2, 4, 2)
    assert result.hparams["drift"]["w1"].shape == (2, 4, 6, 2)
    assert result.best["drift"]["w2"].shape == (2,)


def test_es_command_killed_and_resumed_ends_bit_identical(tmp_path):
    flags = [*TINY_FLAGS, "--population", "4", "--generations", "6", "--num-seeds", "2",
             "--space", "learning_rate=1e-4:1e-2", "ent_coef_schedule=0:2",
             "--ent-coef-schedule", "1", "1", "--out", str(tmp_path), "--quiet"]  # fmt: skip
    whole = cli("es", *flags, "--name", "whole")
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert "best" in whole.stdout and "held-out seeds" in whole.stdout
    run = tmp_path / "whole"
    table = pd.read_csv(run / "es.csv")
    assert list(table.columns) == [
        "generation", "member", "learning_rate", "ent_coef_schedule[0]", "ent_coef_schedule[1]",
        "fitness", "diverged_seeds",
    ]  # fmt: skip
    assert len(table) == 6 * 4 and len(pd.read_csv(run / "search.csv")) == 7
    assert (run / "es.png").stat().st_size > 10_000
    best = json.loads((run / "best.json").read_text())
    assert len(best["ent_coef_schedule"]) == 2 and "fitness" in best

    kill_after_first_checkpoint(["es", *flags, "--name", "killed"], tmp_path / "killed")
    resumed = cli("resume", str(tmp_path / "killed"), "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in ("es.csv", "search.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(run / name), pd.read_csv(tmp_path / "killed" / name), check_exact=True
        )
