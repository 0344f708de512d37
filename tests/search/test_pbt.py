"""Population-based training: exploit and explore, generations, checkpoint and resume, sharding."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import purejaxppo
from purejaxppo import HyperParams, PPOConfig, Range
from purejaxppo.core.trainer import make_train_functions
from purejaxppo.search.pbt import exploit_and_explore, pbt
from tests.processes import cli, kill_after_first_checkpoint, on_two_devices
from tests.tiny import TINY_FLAGS, tiny_config

SMALL_PBT = tiny_config(12)


def _tag(tree, population):
    return jax.tree.map(
        lambda x: (
            x * 0 + jnp.arange(population).reshape((population,) + (1,) * (x.ndim - 1))
        ).astype(x.dtype),
        tree,
    )


TINY = tiny_config(30)


SPACE = {"learning_rate": Range(1e-4, 1e-3), "ent_coef": [0.0, 0.01]}


@pytest.fixture(scope="module")
def population():
    return purejaxppo.pbt(TINY, population=4, interval=7, space=SPACE, key=0)


def test_exploit_keeps_raw_observations_and_resets_the_gru():
    config = SMALL_PBT.replace(network="gru", gru_size=8, normalize_obs=True)
    functions = make_train_functions(config)
    states = jax.vmap(functions.init)(jax.random.split(jax.random.key(0), 4))
    states = states.replace(env_loop=states.env_loop.replace(
        obs_stats=_tag(states.env_loop.obs_stats, 4),
        recurrent=states.env_loop.recurrent.replace(
            start=jnp.zeros_like(states.env_loop.recurrent.start)
        ),
    ))  # fmt: skip
    hparams = jax.tree.map(lambda x: jnp.full((4,), x), config.hparams)
    fitness = jnp.array([3.0, 1.0, 2.0, 5.0])  # member 1 copies member 3
    new, _, parents = exploit_and_explore(
        jax.random.key(1), states, hparams, fitness, {"learning_rate": Range(1e-4, 1e-3)}
    )
    np.testing.assert_array_equal(parents, [0, 3, 2, 3])
    # The copying member keeps its own env and raw observation; the donor's statistics will
    # normalise it from the next step on.
    np.testing.assert_array_equal(new.env_loop.obs, states.env_loop.obs)
    np.testing.assert_array_equal(new.env_loop.obs_stats.mean[1], states.env_loop.obs_stats.mean[3])
    # Its GRU state came from other parameters: it restarts at the next step.
    np.testing.assert_array_equal(new.env_loop.recurrent.start[:, 0], [False, True, False, False])


def test_a_diverged_member_ranks_last_in_pbt():
    from purejaxppo.search.pbt import generation_fitness

    metrics = {
        "episode_return": jnp.array([[10.0, 20.0], [50.0, 60.0], [1.0, 2.0]]),
        "episodes_finished": jnp.array([[1, 1], [1, 1], [1, 1]]),
        "nonfinite": jnp.array([[0, 0], [0, 1], [0, 0]]),  # member 1 diverged in its last update
    }
    fitness = np.asarray(generation_fitness(metrics))
    np.testing.assert_allclose(fitness[[0, 2]], [15.0, 1.5])
    assert np.isnan(fitness[1])  # ranked below every finite fitness by exploit_and_explore


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_pbt_checkpoint_and_resume_equal_one_call(population, tmp_path):
    again = purejaxppo.pbt(TINY, population=4, interval=7, space=SPACE, key=0,
                           checkpoint_dir=tmp_path, checkpoint_every=2)  # fmt: skip
    np.testing.assert_array_equal(again.parents, population.parents)
    for a, b in zip(jax.tree.leaves(again.params), jax.tree.leaves(population.params), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
