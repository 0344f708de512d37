"""Your own network and your own objective, through make_train and the engine (issue 22)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import purejaxppo
from purejaxppo import ConfigError, PPOConfig, make_train
from purejaxppo.core.loss import clip_objective
from purejaxppo.core.trainer import make_train_functions
from tests.custom_networks import GaussianMLP, ReturnsLogits, SmallGRU, SmallMLP
from tests.processes import on_two_devices
from tests.tiny import tiny_config

TINY = tiny_config(6)
MEMORY = PPOConfig(env_id="MemoryChain-bsuite", num_envs=8, num_steps=16,
                   total_timesteps=8 * 16 * 4, num_minibatches=2, update_epochs=2)  # fmt: skip


def test_a_network_of_yours_trains_through_make_train_and_the_engine(tmp_path):
    result = jax.jit(make_train(TINY, network=SmallMLP()))(jax.random.key(0), TINY.hparams)
    assert result.metrics["episode_return"].shape == (TINY.num_updates,)
    assert "Dense_0" in result.params["params"]
    first = purejaxppo.train(TINY, num_seeds=2, network=SmallMLP(), checkpoint_dir=tmp_path,
                             segment_updates=2)  # fmt: skip
    again = purejaxppo.train(TINY, num_seeds=2, network=SmallMLP(), checkpoint_dir=tmp_path,
                             segment_updates=2)  # fmt: skip
    np.testing.assert_array_equal(first.metrics["policy_loss"], again.metrics["policy_loss"])
    scores = purejaxppo.evaluate(TINY, first.params, key=1, num_episodes=2, network=SmallMLP())
    assert scores.returns.shape == (2, 2)


def test_a_recurrent_network_of_yours_replays_its_carry_exactly():
    """Ratio 1 and KL 0 on the first minibatch: the update's replay of whole sequences from the
    stored carry and episode starts reproduces the rollout, as for the built-in GRU."""
    functions = make_train_functions(MEMORY, network=SmallGRU())
    hparams = MEMORY.hparams

    @jax.jit
    def first(key):
        state = functions.init(key)
        _, traj, _ = functions.rollout(state.params, state.env_loop, key, hparams.gamma)
        batch = functions.make_batch(state.params, traj, hparams)
        policy, values = functions.agent.evaluate(state.params, batch)
        return batch, policy.log_prob(batch.action), values

    batch, log_prob, values = first(jax.random.key(0))
    assert batch.obs.shape[:2] == (MEMORY.num_steps, MEMORY.num_envs)
    np.testing.assert_allclose(log_prob, batch.log_prob, atol=1e-5)
    np.testing.assert_allclose(values, batch.value, atol=1e-5)
    result = purejaxppo.train(MEMORY, num_seeds=2, network=SmallGRU())
    assert np.isfinite(result.metrics["policy_loss"]).all()


def test_continuous_actions_with_a_network_of_yours():
    config = TINY.replace(env_id="Pendulum-v1")
    result = jax.jit(make_train(config, network=GaussianMLP()))(jax.random.key(0), config.hparams)
    assert np.isfinite(np.asarray(result.metrics["policy_loss"])).all()


@pytest.mark.parametrize(
    ("config", "network", "says"),
    [
        (TINY, "mlp", "not a flax.linen.Module"),
        (TINY, ReturnsLogits(), "as the policy"),
        (TINY, SmallMLP(actions=3), "chooses among 3 actions"),
        (TINY.replace(env_id="Pendulum-v1"), SmallMLP(), "Box actions need (1,)"),
        (MEMORY.replace(num_minibatches=16), SmallGRU(), "num_minibatches=16"),
    ],
    ids=["not-a-module", "logits", "actions", "discrete-for-box", "minibatches"],
)
def test_a_network_that_does_not_fit_is_refused_before_compiling(config, network, says):
    with pytest.raises(ConfigError) as caught:
        make_train(config, network=network)
    assert says in str(caught.value) and "Fix:" in str(caught.value)


def test_ppo_clip_written_by_hand_is_the_built_in_objective():
    def by_hand(log_ratio, advantage, hparams):
        ratio = jnp.exp(log_ratio)
        clipped = jnp.clip(ratio, 1 - hparams.clip_eps, 1 + hparams.clip_eps)
        return jnp.minimum(ratio * advantage, clipped * advantage)

    ours = jax.jit(make_train(TINY))(jax.random.key(3), TINY.hparams)
    for objective in (clip_objective, by_hand):
        yours = jax.jit(make_train(TINY, objective=objective))(jax.random.key(3), TINY.hparams)
        for name, values in ours.metrics.items():
            np.testing.assert_allclose(yours.metrics[name], values, rtol=1e-6, err_msg=name)


def test_an_objective_reads_traced_hparams_so_a_search_can_tune_it():
    def scaled(log_ratio, advantage, hparams):  # its own "parameter": clip_eps, traced
        return jnp.exp(log_ratio) * advantage * hparams.clip_eps

    space = {"clip_eps": purejaxppo.Range(0.05, 0.5)}
    result = purejaxppo.es(TINY, space, population=2, generations=2, num_seeds=1,
                           objective=scaled)  # fmt: skip
    assert result.fitness.shape == (2, 2)
    with pytest.raises(ConfigError, match=r"objective=.*per sample"):
        make_train(TINY, objective=lambda log_ratio, advantage, hparams: log_ratio.sum())


def test_a_checkpoint_of_one_network_does_not_resume_another(tmp_path):
    purejaxppo.train(TINY, num_seeds=1, network=SmallMLP(), checkpoint_dir=tmp_path,
                     segment_updates=2)  # fmt: skip
    with pytest.raises(ConfigError):
        purejaxppo.train(TINY, num_seeds=1, network=SmallMLP(width=8), checkpoint_dir=tmp_path,
                         segment_updates=2)  # fmt: skip


@pytest.mark.slow
def test_every_hook_on_two_devices_equals_one_device():
    code = """
    import json, jax, numpy as np, purejaxppo
    from purejaxppo.core.loss import clip_objective
    from tests.custom_networks import SmallMLP
    from tests.envs.test_randomize import pole_length
    from tests.tiny import tiny_config
    config = tiny_config(6)
    hooks = {"network": SmallMLP(), "objective": clip_objective, "randomize": pole_length}
    two = purejaxppo.train(config, num_seeds=4, **hooks)
    one = purejaxppo.train(config, num_seeds=4, devices=jax.devices()[:1], **hooks)
    same = np.array_equal(one.metrics["policy_loss"], two.metrics["policy_loss"])
    print(json.dumps({"devices": list(two.devices), "same": bool(same)}))
    """
    assert on_two_devices(code)["same"]


def test_every_search_takes_the_hooks():
    from tests.envs.test_randomize import pole_length

    hooks = {"network": SmallMLP(), "objective": clip_objective, "randomize": pole_length}
    grid = purejaxppo.sweep(TINY, {"learning_rate": [1e-3, 3e-4]}, num_seeds=1, **hooks)
    assert len(grid.configs) == 2 and "Dense_0" in grid.result.params["params"]
    population = purejaxppo.pbt(TINY, population=2, interval=3, fraction=0.5, **hooks)
    assert population.fitness.shape == (2, 2)
    recurrent = purejaxppo.pbt(MEMORY, population=2, interval=2, fraction=0.5, network=SmallGRU())
    assert np.isfinite(recurrent.metrics["policy_loss"]).all()
