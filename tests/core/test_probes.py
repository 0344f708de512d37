"""Probe environments: the trained critic and policy must match the known optimum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxppo import PPOConfig
from purejaxppo.core.networks import ActorCritic
from purejaxppo.core.trainer import make_train, make_train_functions
from tests import probes

GAMMA = 0.9
NUM_SEEDS = 3
PROBE_CONFIG = PPOConfig(
    num_envs=8,
    num_steps=32,
    total_timesteps=8 * 32 * 150,
    update_epochs=4,
    num_minibatches=4,
    learning_rate=3e-3,
    gamma=GAMMA,
    ent_coef=0.0,
    anneal_lr=False,
    clip_vloss=False,
    actor_hidden=(32, 32),
    critic_hidden=(32, 32),
)


def train_probe(env, **overrides):
    """Trains NUM_SEEDS runs on `env`; returns (critic(obs) -> [seeds, ...], actor(obs), result)."""
    config = PROBE_CONFIG.replace(**overrides)
    functions = make_train_functions(config, env)
    keys = jax.random.split(jax.random.key(0), NUM_SEEDS)
    result = jax.jit(jax.vmap(make_train(config, env), in_axes=(0, None)))(keys, config.hparams)

    def critic(obs):
        apply = lambda p: functions.network.apply(p, obs, method=ActorCritic.critic)  # noqa: E731
        return np.asarray(jax.vmap(apply)(result.params))

    def actor(obs, read):
        """`read(distribution)` for each seed's policy at `obs`."""
        apply = lambda p: read(functions.network.apply(p, obs, method=ActorCritic.actor))  # noqa: E731
        return np.asarray(jax.vmap(apply)(result.params))

    return critic, actor, result


OBS = jnp.array([[0.0], [1.0], [-1.0]])


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_constant_reward_value_is_one(continuous):
    critic, _, _ = train_probe(probes.ConstantReward(continuous))
    np.testing.assert_allclose(critic(OBS[:1]), 1.0, atol=0.05)


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_observed_reward_value_equals_observation(continuous):
    critic, _, _ = train_probe(probes.ObservedReward(continuous))
    np.testing.assert_allclose(
        critic(OBS[1:]), np.broadcast_to([1.0, -1.0], (NUM_SEEDS, 2)), atol=0.1
    )


def test_action_reward_discrete_policy_picks_the_rewarded_action():
    critic, actor, _ = train_probe(probes.ActionReward(continuous=False))
    probs = actor(OBS[1:], lambda policy: policy.probs)  # o = +1 wants action 1, o = -1 action 0
    p_correct = np.stack([probs[:, 0, 1], probs[:, 1, 0]], axis=1)
    assert np.all(p_correct > 0.95), p_correct
    np.testing.assert_allclose(critic(OBS[1:]), 1.0, atol=0.15)


def test_action_reward_continuous_policy_mean_is_optimal():
    _, actor, result = train_probe(probes.ActionReward(continuous=True))
    mean = actor(OBS[1:], lambda policy: policy.mean())[..., 0]  # [seeds, 2]: best +0.5, -0.5
    np.testing.assert_allclose(mean, np.broadcast_to([0.5, -0.5], mean.shape), atol=0.1)
    std = np.exp(np.asarray(result.params["params"]["log_std"]))
    assert np.all(std < 0.6), std  # shrank from its initial 1.0


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_two_step_value_is_discounted(continuous):
    critic, _, _ = train_probe(probes.TwoStep(continuous))
    values = critic(OBS[:2])  # obs 0: first step, obs 1: second step
    np.testing.assert_allclose(values, np.broadcast_to([GAMMA, 1.0], values.shape), atol=0.05)


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_time_limit_truncation_bootstraps(continuous):
    critic, _, result = train_probe(probes.NeverEnding(continuous))
    # Every episode is cut at 10 steps; the value of a reward-1-forever state is 1 / (1 - gamma)
    # = 10. Treating the cut as termination would give about 6 (the mean shortened return).
    np.testing.assert_allclose(critic(OBS[:1]), 1.0 / (1.0 - GAMMA), rtol=0.05)
    np.testing.assert_array_equal(np.asarray(result.metrics["episode_length"])[:, -1], 10.0)


def test_time_limit_probe_catches_truncation_treated_as_termination():
    # The same probe, with the time limit reported as a termination (what purejaxrl, rejax and
    # CleanRL's ppo.py do): the learned value falls well short of 1 / (1 - gamma).
    critic, _, _ = train_probe(probes.NeverEndingTruncationAsTermination())
    assert np.all(critic(OBS[:1]) < 0.8 / (1.0 - GAMMA))
