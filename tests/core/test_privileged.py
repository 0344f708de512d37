"""A critic that sees privileged state: dict observations split between actor and critic."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import purejaxppo
from purejaxppo import ConfigError, PPOConfig, make_train
from purejaxppo.core.trainer import make_train_functions
from tests import probes
from tests.custom_networks import SmallMLP

CONFIG = PPOConfig(num_envs=8, num_steps=16, total_timesteps=8 * 16 * 40, num_minibatches=2,
                   actor_obs_key="state", critic_obs_key="privileged")  # fmt: skip


def explained_variance(config: PPOConfig) -> float:
    train = jax.jit(make_train(config, env=probes.PrivilegedReward()))
    metrics = train(jax.random.key(0), config.hparams).metrics
    return float(np.mean(metrics["explained_variance"][-5:]))


def test_only_the_critic_that_sees_the_privileged_entry_predicts_the_return():
    assert explained_variance(CONFIG) > 0.9
    assert explained_variance(CONFIG.replace(critic_obs_key="state")) < 0.2


def test_the_actor_and_the_critic_read_their_own_entries():
    functions = make_train_functions(CONFIG, env=probes.PrivilegedReward())
    assert functions.spec.obs_shape == (2,) and functions.spec.obs_split == 1
    assert functions.network.obs_split == 1
    whole = make_train_functions(CONFIG.replace(actor_obs_key=None, critic_obs_key=None),
                                 env=probes.PrivilegedReward())  # fmt: skip
    assert whole.spec.obs_shape == (2,) and whole.spec.obs_split == 0
    normalized = CONFIG.replace(normalize_obs=True)  # statistics per feature, so per entry
    runs = purejaxppo.train(normalized, num_seeds=2, env=probes.PrivilegedReward())
    assert runs.obs_stats.mean.shape == (2, 2)


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (lambda: make_train(CONFIG.replace(critic_obs_key="secret"), env=probes.PrivilegedReward()),
         "no such entry"),
        (lambda: make_train(CONFIG.replace(env_id="CartPole-v1")), "not a dict"),
        (lambda: CONFIG.replace(network="gru"), "not supported yet"),
        (lambda: make_train(CONFIG, env=probes.PrivilegedReward(), network=SmallMLP()),
         "not supported yet"),
    ],
    ids=["missing-key", "array-observations", "gru", "custom-network"],
)  # fmt: skip
def test_keys_that_cannot_work_are_refused_at_build_time(build, says):
    with pytest.raises(ConfigError) as caught:
        build()
    assert says in str(caught.value) and "Fix:" in str(caught.value)


def test_unset_keys_leave_the_saved_config_as_before():
    assert "actor_obs_key" not in PPOConfig().to_dict()
    assert CONFIG.to_dict()["critic_obs_key"] == "privileged"
    assert PPOConfig(**CONFIG.to_dict()) == CONFIG


@pytest.mark.slow
def test_a_privileged_critic_on_two_devices_equals_one_device_and_resumes(tmp_path):
    from tests.processes import on_two_devices

    code = """
    import json, jax, numpy as np, purejaxppo
    from tests import probes
    from tests.core.test_privileged import CONFIG
    options = {"num_seeds": 4, "env": probes.PrivilegedReward()}
    two = purejaxppo.train(CONFIG, **options)
    one = purejaxppo.train(CONFIG, devices=jax.devices()[:1], **options)
    same = np.array_equal(one.metrics["value_loss"], two.metrics["value_loss"])
    print(json.dumps({"devices": list(two.devices), "same": bool(same)}))
    """
    assert on_two_devices(code)["same"]
    options = {"num_seeds": 2, "env": probes.PrivilegedReward(), "checkpoint_dir": tmp_path,
               "segment_updates": 10}  # fmt: skip
    first, again = purejaxppo.train(CONFIG, **options), purejaxppo.train(CONFIG, **options)
    np.testing.assert_array_equal(first.metrics["value_loss"], again.metrics["value_loss"])
