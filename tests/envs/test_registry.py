"""Every gymnax environment with a Discrete or Box action space trains; metrics are per update."""

from __future__ import annotations

import gymnax
import jax
import numpy as np
import pytest

from purejaxppo import PPOConfig, make_train
from purejaxppo.core.trainer import METRIC_NAMES

NEEDS_DOWNLOAD = {"MNISTBandit-bsuite"}  # builds its data set from the network when constructed
ENV_IDS = [e for e in gymnax.registered_envs if e not in NEEDS_DOWNLOAD]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_every_gymnax_env_trains(env_id):
    config = PPOConfig(
        env_id=env_id, num_envs=2, num_steps=8, total_timesteps=32, num_minibatches=2
    )
    result = jax.jit(make_train(config))(jax.random.key(0), config.hparams)
    metrics = {k: np.asarray(v) for k, v in result.metrics.items()}
    assert set(metrics) == set(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert metrics[name].shape == (config.num_updates,), name
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "learning_rate"):
        assert np.all(np.isfinite(metrics[name])), (name, metrics[name])
    for leaf in jax.tree.leaves(result.params):
        assert np.all(np.isfinite(leaf))
    np.testing.assert_array_equal(metrics["env_steps"], [16, 32])


def test_update_without_finished_episode_reports_nan_not_zero():
    config = PPOConfig(num_envs=2, num_steps=4, total_timesteps=8 * 40, num_minibatches=2)
    metrics = jax.jit(make_train(config))(jax.random.key(0), config.hparams).metrics
    finished = np.asarray(metrics["episodes_finished"])
    returns = np.asarray(metrics["episode_return"])
    assert finished[0] == 0 and np.isnan(returns[0])  # no CartPole episode ends within 4 steps
    assert np.all(np.isnan(returns) == (finished == 0))
    assert np.all(returns[finished > 0] >= 1.0)


def test_memory_does_not_grow_with_total_timesteps():
    def memory(total_timesteps):
        config = PPOConfig(total_timesteps=total_timesteps)
        lowered = jax.jit(make_train(config)).lower(jax.random.key(0), config.hparams)
        return lowered.compile().memory_analysis(), config.num_updates

    (short, short_updates), (long, long_updates) = memory(512 * 10), memory(512 * 1000)
    assert long.temp_size_in_bytes == short.temp_size_in_bytes
    per_update = (long.output_size_in_bytes - short.output_size_in_bytes) / (
        long_updates - short_updates
    )
    assert per_update <= 4 * len(METRIC_NAMES)  # one float32/int32 scalar per metric per update


def test_continuous_actions_reach_the_env_clipped(monkeypatch):
    env, env_params = gymnax.make("Pendulum-v1")
    seen = []
    step = type(env).step_env

    def recording_step(self, key, state, action, params):
        jax.debug.callback(lambda a: seen.append(np.asarray(a)), action)
        return step(self, key, state, action, params)

    monkeypatch.setattr(type(env), "step_env", recording_step)
    config = PPOConfig(
        env_id="Pendulum-v1",
        num_envs=2,
        num_steps=64,
        total_timesteps=128,
        num_minibatches=2,
        log_std_init=1.5,
    )  # std 4.5: most samples exceed +-2
    make_train(config, env, env_params)(jax.random.key(0), config.hparams)
    actions = np.concatenate([a.reshape(-1) for a in seen])
    assert actions.min() >= -2.0 and actions.max() <= 2.0
    assert np.mean(np.abs(actions) == 2.0) > 0.3  # clipping really happened


def test_discrete_observations_are_one_hot_encoded():
    """FrozenLake's observation is a tile index: the networks must see a label, not a size."""
    from purejaxppo.core.networks import flat_features
    from purejaxppo.envs.registry import describe_env_id

    spec = describe_env_id("FrozenLake-misc")
    assert spec.obs_shape == () and spec.obs_categories == 16
    assert describe_env_id("CartPole-v1").obs_categories == 0
    features = flat_features(jax.numpy.array([[3, 0], [15, 7]]), (), 16)
    assert features.shape == (2, 2, 16)
    np.testing.assert_array_equal(features.argmax(-1), [[3, 0], [15, 7]])
    np.testing.assert_array_equal(features.sum(-1), 1.0)


def probe_by_name(name: str):
    """A suite adapter: `probes:constant` or `probes:constant-continuous`."""
    from tests import probes

    return probes.ConstantReward(continuous=name.endswith("-continuous"))


def test_a_suite_of_your_own_builds_and_trains_by_its_ids(monkeypatch):
    from purejaxppo import ConfigError
    from purejaxppo.envs import ids
    from purejaxppo.envs.registry import describe_env_id

    suite = ids.Suite("probes", "Probes", f"{__name__}:probe_by_name", f"{__name__}:list", "")
    monkeypatch.setitem(ids.SUITES, "probes", suite)
    assert ids.parse_suite_id("probes:constant") == ("probes", "constant")
    assert describe_env_id("probes:constant-continuous").discrete is False
    config = PPOConfig(env_id="probes:constant", num_envs=2, num_steps=8, total_timesteps=32,
                       num_minibatches=2)  # fmt: skip
    result = jax.jit(make_train(config))(jax.random.key(0), config.hparams)
    assert result.metrics["episode_return"].shape == (config.num_updates,)
    with pytest.raises(ConfigError, match=r"Suite\.prefix='brax'"):
        ids.register_suite(ids.Suite("brax", "Brax again", "", "", ""))
