"""The networks (MLP, CNN, GRU): the first minibatch replays the rollout exactly, GRU resets,
the CNN's convolution, config checks, and a memory task only the GRU solves."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import purejaxppo
from purejaxppo import ConfigError, PPOConfig, make_train
from purejaxppo.core.evaluation import evaluate
from purejaxppo.core.loss import ppo_loss
from purejaxppo.core.networks import MIN_STD, ActorCritic, RecurrentActorCritic, patches_3x3
from purejaxppo.core.trainer import make_train_functions

CASES = [
    ("CartPole-v1", "mlp", False),
    ("Pendulum-v1", "mlp", False),
    ("Pendulum-v1", "mlp", True),
    ("Breakout-MinAtar", "cnn", False),
    ("MemoryChain-bsuite", "gru", False),
    ("Pendulum-v1", "gru", True),
]


@pytest.mark.parametrize(("env_id", "network", "state_dependent_std"), CASES)
def test_first_minibatch_replays_the_rollout_exactly(env_id, network, state_dependent_std):
    """Ratio 1 and KL 0 on the first minibatch: for the GRU this means the update's replay of
    whole sequences from the stored initial state and episode starts reproduces the rollout."""
    config = PPOConfig(
        env_id=env_id, network=network, num_envs=8, num_steps=32, total_timesteps=256,
        num_minibatches=4, gru_size=32, state_dependent_std=state_dependent_std,
    )  # fmt: skip
    fns = make_train_functions(config)
    hparams = config.hparams

    @jax.jit
    def first_update(key):
        state = fns.init(key)
        _, traj, _ = fns.rollout(state.params, state.env_loop, key, hparams.gamma)
        batch = fns.make_batch(state.params, traj, hparams)
        policy, values = fns.agent.evaluate(state.params, batch)
        _, loss_info = ppo_loss(state.params, fns.agent, batch, hparams, True, True)
        _, _, infos = fns.update(state.params, state.opt_state, batch, hparams, key)
        return batch, policy.log_prob(batch.action), values, loss_info, infos

    batch, log_prob, values, whole_batch, infos = first_update(jax.random.key(0))
    if network == "gru":
        assert batch.obs.shape[:2] == (32, 8) and batch.initial_hidden.shape == (8, 32)
        assert bool(jnp.all(batch.start[0]))  # the first rollout starts every episode
    if env_id == "MemoryChain-bsuite":
        assert bool(jnp.any(batch.start[1:]))  # episodes restart inside the rollout
    np.testing.assert_allclose(log_prob, batch.log_prob, atol=1e-5)
    np.testing.assert_allclose(values, batch.value, atol=1e-5)
    assert abs(float(whole_batch.approx_kl)) < 1e-6
    assert float(whole_batch.clip_fraction) == 0.0
    assert abs(float(infos.approx_kl[0, 0])) < 1e-6  # first minibatch of the first epoch
    assert float(infos.clip_fraction[0, 0]) == 0.0
    assert float(infos.approx_kl[-1, -1]) > 1e-8


def test_state_dependent_std_starts_at_log_std_init_and_varies_with_the_state():
    network = ActorCritic(
        obs_shape=(3,), discrete=False, num_actions=2, log_std_init=-1.0, state_dependent_std=True
    )
    obs = jax.random.normal(jax.random.key(1), (64, 3))
    params = network.init(jax.random.key(0), obs)
    assert "log_std" not in params["params"]  # the std is an output, not a parameter
    std = network.apply(params, obs, method=ActorCritic.actor).stddev()
    assert std.shape == (64, 2)
    np.testing.assert_allclose(std, np.exp(-1.0), rtol=0.05)  # the last layer starts near 0
    # after a step on the std's output weights, different states get different stds
    kernel = params["params"]["actor_net"]["Dense_2"]["kernel"]
    moved = jax.tree.map(lambda x: x, params)
    moved["params"]["actor_net"]["Dense_2"]["kernel"] = kernel.at[:, 2:].add(1.0)
    std = network.apply(moved, obs, method=ActorCritic.actor).stddev()
    assert float(jnp.std(std[:, 0])) > 0.01 and float(jnp.min(std)) >= MIN_STD


def test_gru_state_resets_at_episode_start():
    network = RecurrentActorCritic(obs_shape=(3,), discrete=True, num_actions=2, gru_size=8)
    obs = jnp.ones((2, 3))
    params = network.init(jax.random.key(0), network.initial_hidden((2,)), obs, jnp.ones(2, bool))
    stale = jnp.full((2, 8), 0.7)
    fresh = network.initial_hidden((2,))
    step = lambda h, s: network.apply(params, h, obs, s, method=RecurrentActorCritic.step)  # noqa: E731
    np.testing.assert_array_equal(step(stale, jnp.ones(2, bool)), step(fresh, jnp.ones(2, bool)))
    assert not np.allclose(step(stale, jnp.zeros(2, bool)), step(fresh, jnp.zeros(2, bool)))
    mixed = step(stale, jnp.array([True, False]))
    np.testing.assert_array_equal(mixed[0], step(fresh, jnp.zeros(2, bool))[0])
    np.testing.assert_array_equal(mixed[1], step(stale, jnp.zeros(2, bool))[1])


def test_patches_times_a_matrix_is_a_3x3_same_convolution():
    x = jax.random.normal(jax.random.key(0), (2, 5, 10, 10, 4))  # two batch axes
    kernel = jax.random.normal(jax.random.key(1), (3, 3, 4, 16))
    ours = patches_3x3(x) @ kernel.reshape(9 * 4, 16)
    reference = jax.lax.conv_general_dilated(
        x.reshape(10, 10, 10, 4), kernel, (1, 1), "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    ).reshape(2, 5, 10, 10, 16)  # fmt: skip
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)


def test_cnn_layers_see_3x3_neighbourhoods():
    cnn = make_train_functions(PPOConfig(env_id="Breakout-MinAtar", network="cnn"))
    mlp = make_train_functions(PPOConfig(env_id="Breakout-MinAtar"))

    def first_kernel_shape(fns):
        params = fns.init_params(jax.random.key(0))["params"]
        return params["actor_net"]["Dense_0"]["kernel"].shape

    assert first_kernel_shape(cnn) == (9 * 4, 16)  # 3x3 patches of 4 channels -> 16 channels
    assert first_kernel_shape(mlp) == (10 * 10 * 4, 64)  # the flattened frame


def test_network_choices_are_checked_at_construction():
    with pytest.raises(ConfigError, match=r"PPOConfig.network='cnn'.*\[H, W, C\]"):
        make_train(PPOConfig(env_id="CartPole-v1", network="cnn"))  # where the env is known
    with pytest.raises(ConfigError, match=r"PPOConfig.network=.lstm."):
        PPOConfig(network="lstm")
    with pytest.raises(ConfigError, match=r"PPOConfig.num_minibatches=8.*whole env sequences"):
        PPOConfig(network="gru", num_envs=4, num_minibatches=8)
    with pytest.raises(ConfigError, match=r"PPOConfig.gru_size=0"):
        PPOConfig(network="gru", gru_size=0)
    with pytest.raises(ConfigError, match=r"PPOConfig.conv_channels=\(\)"):
        PPOConfig(conv_channels=())


MEMORY = PPOConfig(
    env_id="MemoryChain-bsuite",
    network="gru",
    gru_size=32,
    num_envs=16,
    num_steps=32,
    total_timesteps=16 * 32 * 60,
    num_minibatches=4,
    learning_rate=1e-3,
    ent_coef=0.01,
)


def test_memory_task_needs_the_recurrent_policy():
    """MemoryChain shows a +-1 context only at the first step and rewards +1 for repeating it at
    the last (else -1): memoryless policies average 0, a remembering one reaches 1."""
    gru = purejaxppo.train(MEMORY, num_seeds=4, key=0)
    mlp = purejaxppo.train(MEMORY.replace(network="mlp"), num_seeds=4, key=0)
    assert np.mean(gru.final_returns) >= 0.8, gru.final_returns
    assert np.mean(mlp.final_returns) <= 0.3, mlp.final_returns
    # Evaluation carries the GRU state through each episode as training did.
    evaluated = evaluate(MEMORY, gru.params, key=1, num_episodes=8, obs_stats=gru.obs_stats)
    assert evaluated.returns.shape == (4, 8) and np.mean(evaluated.returns) >= 0.8


@pytest.mark.parametrize("network", ["mlp", "gru"])
def test_abstract_params_match_the_trained_ones_without_building_training(network):
    from purejaxppo.core.trainer import abstract_params

    config = PPOConfig(network=network, num_envs=4, num_minibatches=2, gru_size=8)
    params, spec = abstract_params(config)
    functions = make_train_functions(config)
    assert spec == functions.spec
    trained = jax.eval_shape(functions.init_params, jax.random.key(0))
    assert jax.tree.map(lambda x: (x.shape, x.dtype), params) == jax.tree.map(
        lambda x: (x.shape, x.dtype), trained
    )
