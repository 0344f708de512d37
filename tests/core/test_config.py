"""Impossible configurations fail at construction with the field, the value and the fix."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from purejaxppo import ConfigError, HyperParams, PPOConfig, make_train, preset
from tests import probes

BAD = [
    ({"num_minibatches": 3}, "num_minibatches", "3"),
    ({"total_timesteps": 100}, "total_timesteps", "100"),
    ({"num_envs": 0}, "num_envs", "0"),
    ({"num_steps": 2.5}, "num_steps", "2.5"),
    ({"update_epochs": True}, "update_epochs", "True"),
    ({"env_id": "NoSuchEnv-v0"}, "env_id", "NoSuchEnv-v0"),
    ({"gamma": 1.5}, "gamma", "1.5"),
    ({"gae_lambda": -0.1}, "gae_lambda", "-0.1"),
    ({"learning_rate": 0.0}, "learning_rate", "0.0"),
    ({"clip_eps": float("nan")}, "clip_eps", "nan"),
    ({"max_grad_norm": -1.0}, "max_grad_norm", "-1.0"),
    ({"ent_coef": -0.01}, "ent_coef", "-0.01"),
    ({"actor_hidden": ()}, "actor_hidden", "()"),
    ({"critic_hidden": (64, 0)}, "critic_hidden", "(64, 0)"),
    ({"activation": "sigmoid"}, "activation", "sigmoid"),
]

# Checked where the environment is known: when the train function is built.
DOES_NOT_FIT = [
    ({"log_std_init": -1.0}, "log_std_init", "-1.0"),  # CartPole is discrete
    ({"state_dependent_std": True}, "state_dependent_std", "True"),
    ({"env_id": "FrozenLake-misc", "normalize_obs": True}, "normalize_obs", "True"),
    ({"network": "cnn"}, "network", "cnn"),  # CartPole's observations are flat
]


@pytest.mark.parametrize(("changes", "field", "value"), BAD, ids=[b[1] for b in BAD])
def test_bad_config_names_field_value_and_fix(changes, field, value):
    with pytest.raises(ConfigError) as error:
        PPOConfig(**changes)
    message = str(error.value)
    assert f"PPOConfig.{field}=" in message
    assert value in message
    assert "Fix:" in message


@pytest.mark.parametrize(
    ("changes", "field", "value"), DOES_NOT_FIT, ids=[b[1] for b in DOES_NOT_FIT]
)
def test_config_that_does_not_fit_its_env_fails_when_building_train(changes, field, value):
    config = PPOConfig(**changes)  # building a config builds no environment
    with pytest.raises(ConfigError) as error:
        make_train(config)
    message = str(error.value)
    assert f"PPOConfig.{field}=" in message and value in message and "Fix:" in message


def test_continuous_only_option_on_a_custom_discrete_env_fails_when_building_train():
    config = PPOConfig(env_id="Pendulum-v1", log_std_init=-0.5)  # fine for Pendulum
    with pytest.raises(ConfigError, match="log_std_init"):
        make_train(config, probes.ConstantReward(continuous=False))


def test_derived_counts_are_not_written_back():
    config = PPOConfig(num_envs=8, num_steps=64, total_timesteps=10_000, num_minibatches=8)
    assert (config.batch_size, config.minibatch_size, config.num_updates) == (512, 64, 19)
    assert config.env_steps == 19 * 512
    assert config.total_timesteps == 10_000
    assert "num_updates" not in {f.name for f in dataclasses.fields(config)}


def test_config_is_frozen_hashable_and_replace_validates():
    config = PPOConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.num_envs = 8  # type: ignore[misc]
    assert hash(config) == hash(PPOConfig())
    with pytest.raises(ConfigError, match="num_minibatches"):
        config.replace(num_minibatches=7)


def test_hparams_are_float32_scalars_and_stack():
    hparams = PPOConfig(learning_rate=1e-3).hparams
    assert isinstance(hparams, HyperParams)
    assert hparams.learning_rate.dtype == np.float32 and hparams.learning_rate.shape == ()
    assert np.isclose(hparams.learning_rate, 1e-3)
    stacked = HyperParams.stack([hparams, hparams.replace(gamma=np.float32(0.5))])
    assert stacked.gamma.shape == (2,) and stacked.gamma.dtype == np.float32
    np.testing.assert_allclose(stacked.gamma, [0.99, 0.5])


def test_presets_build():
    assert preset("CartPole-v1") == PPOConfig()
    assert preset("Pendulum-v1").normalize_obs
    assert preset("Pendulum-v1", total_timesteps=40_960).total_timesteps == 40_960
    with pytest.raises(ConfigError, match="preset='Nope'"):
        preset("Nope")
