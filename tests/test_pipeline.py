"""One engine for train, sweep and PBT: PBT sharded over devices, checkpointed, resumed after
SIGKILL, and on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

import purejaxppo
from purejaxppo import Range
from tests.processes import cli, kill_after_first_checkpoint, on_two_devices
from tests.tiny import TINY_FLAGS, tiny_config

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TINY = tiny_config(30)
SPACE = {"learning_rate": Range(1e-4, 1e-3), "ent_coef": [0.0, 0.01]}


@pytest.fixture(scope="module")
def population():
    return purejaxppo.pbt(TINY, population=4, interval=7, space=SPACE, key=0)


def test_pbt_generations_shapes_and_no_exploit_after_the_last(population):
    generations = 5  # 30 updates in generations of 7: 7, 7, 7, 7 and a last one of 2
    assert population.hparams["learning_rate"].shape == (generations + 1, 4)
    assert population.fitness.shape == population.parents.shape == (generations, 4)
    assert population.metrics["episode_return"].shape == (4, 30)
    np.testing.assert_array_equal(population.parents[-1], np.arange(4))
    # Final hparams are the ones the final params were trained with in the last generation.
    for name in SPACE:
        np.testing.assert_array_equal(population.hparams[name][-1], population.hparams[name][-2])
        np.testing.assert_array_equal(
            population.hparams[name][-1], getattr(population.final_hparams, name)
        )


def test_pbt_checkpoint_and_resume_equal_one_call(population, tmp_path):
    again = purejaxppo.pbt(TINY, population=4, interval=7, space=SPACE, key=0,
                           checkpoint_dir=tmp_path, checkpoint_every=2)  # fmt: skip
    np.testing.assert_array_equal(again.parents, population.parents)
    for a, b in zip(jax.tree.leaves(again.params), jax.tree.leaves(population.params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_pbt_sharded_over_two_devices_equals_one_device(population):
    code = f"""
        import json, jax, numpy as np, purejaxppo
        from purejaxppo import PPOConfig, Range
        assert len(jax.devices()) == 2
        config = PPOConfig(**{TINY.to_dict()!r})
        space = {{"learning_rate": Range(1e-4, 1e-3), "ent_coef": [0.0, 0.01]}}
        result = purejaxppo.pbt(config, population=4, interval=7, space=space, key=0)
        print(json.dumps({{"devices": result.devices, "parents": result.parents.tolist(),
                           "lr": result.hparams["learning_rate"].tolist(),
                           "ret": np.nan_to_num(result.metrics["episode_return"]).tolist()}}))
    """
    sharded = on_two_devices(code)
    np.testing.assert_array_equal(sharded["parents"], population.parents)
    np.testing.assert_allclose(sharded["lr"], population.hparams["learning_rate"], rtol=1e-6)
    np.testing.assert_allclose(
        sharded["ret"], np.nan_to_num(population.metrics["episode_return"]), rtol=1e-5
    )


def test_pbt_command_writes_trajectories(tmp_path):
    proc = cli("pbt", *TINY_FLAGS, "--total-timesteps", "3840", "--population", "4",
               "--interval", "7", "--space", "learning_rate=1e-4:1e-3", "ent_coef=0,0.01",
               "--out", str(tmp_path), "--name", "p", "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "best member" in proc.stdout
    run = tmp_path / "p"
    trajectories = pd.read_csv(run / "hparams.csv")
    assert list(trajectories.columns) == [
        "generation", "member", "env_steps", "learning_rate", "ent_coef", "fitness", "parent"
    ]  # fmt: skip
    assert len(trajectories) == 5 * 4
    assert (run / "hparams.png").stat().st_size > 10_000
    summary = json.loads((run / "summary.json").read_text())
    assert summary["population"] == 4 and set(summary["best_member_hparams"]) == set(SPACE)
    assert (run / "final").is_dir() and len(pd.read_csv(run / "metrics.csv")) == 4 * 30


def test_pbt_killed_and_resumed_ends_bit_identical(tmp_path):
    flags = [*TINY_FLAGS, "--total-timesteps", str(4 * 32 * 64), "--population", "4",
             "--interval", "4", "--checkpoint-every", "1", "--out", str(tmp_path),
             "--quiet"]  # fmt: skip
    whole = cli("pbt", *flags, "--name", "whole")
    assert whole.returncode == 0, whole.stderr[-3000:]
    kill_after_first_checkpoint(["pbt", *flags, "--name", "killed"], tmp_path / "killed", 0.3)
    resumed = cli("resume", str(tmp_path / "killed"), "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in ("hparams.csv", "metrics.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "whole" / name), pd.read_csv(tmp_path / "killed" / name),
            check_exact=True,
        )  # fmt: skip
