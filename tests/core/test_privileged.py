"""A critic that sees privileged state: dict observations split between actor and critic."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import purejaxppo
from purejaxppo import ConfigError, PPOConfig, make_train
from purejaxppo.core.networks import RecurrentActorCritic
from purejaxppo.core.trainer import make_train_functions
from tests import probes
from tests.custom_networks import SmallMLP, SplitMLP

CONFIG = PPOConfig(num_envs=8, num_steps=16, total_timesteps=8 * 16 * 40, num_minibatches=2,
                   actor_obs_key="state", critic_obs_key="privileged")  # fmt: skip


def explained_variance(config: PPOConfig, network=None) -> float:
    train = jax.jit(make_train(config, env=probes.PrivilegedReward(), network=network))
    metrics = train(jax.random.key(0), config.hparams).metrics
    return float(np.mean(metrics["explained_variance"][-5:]))


@pytest.mark.parametrize(
    ("config", "network"),
    [(CONFIG, None), (CONFIG.replace(network="gru"), None), (CONFIG, SplitMLP())],
    ids=["mlp", "gru", "custom-network"],
)
def test_only_the_critic_that_sees_the_privileged_entry_predicts_the_return(config, network):
    assert explained_variance(config, network) > 0.9
    assert explained_variance(config.replace(critic_obs_key="state"), network) < 0.2


def test_the_gru_memory_reads_the_actor_entry_only():
    functions = make_train_functions(CONFIG.replace(network="gru"), env=probes.PrivilegedReward())
    network = functions.network
    params = functions.agent.init(jax.random.key(0), (2,))
    hidden, start = network.initial_hidden((2,)), jnp.array([True, False])
    obs = jnp.array([[0.5, 0.0], [0.5, 1.0]])  # the same actor entry, two critic entries
    after = network.apply(params, hidden, obs, start, method=RecurrentActorCritic.step)
    np.testing.assert_array_equal(after[0], after[1])
    values = network.apply(params, after, obs, method=RecurrentActorCritic.heads)[1]
    assert values[0] != values[1]


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
        (lambda: CONFIG.replace(network="cnn"), "reads one image"),
        (lambda: make_train(CONFIG, env=probes.PrivilegedReward(), network=SmallMLP()),
         "obs_split: int = 0"),
    ],
    ids=["missing-key", "array-observations", "cnn", "custom-network-without-obs-split"],
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
@pytest.mark.parametrize("network", ["mlp", "gru"])
def test_a_privileged_critic_on_two_devices_equals_one_device_and_resumes(network, tmp_path):
    from tests.processes import on_two_devices

    code = f"""
    import json, jax, numpy as np, purejaxppo
    from tests import probes
    from tests.core.test_privileged import CONFIG
    CONFIG = CONFIG.replace(network={network!r})
    options = {{"num_seeds": 4, "env": probes.PrivilegedReward()}}
    two = purejaxppo.train(CONFIG, **options)
    one = purejaxppo.train(CONFIG, devices=jax.devices()[:1], **options)
    a, b = one.metrics["value_loss"], two.metrics["value_loss"]
    # The GRU's program compiles with other fusions per device count (the built-in GRU on
    # CartPole differs by ~1e-8 too): equal up to float rounding; the MLP's is bit-identical.
    same = np.array_equal(a, b) if {network!r} == "mlp" else np.allclose(a, b, rtol=1e-4, atol=1e-6)
    print(json.dumps({{"devices": list(two.devices), "same": bool(same)}}))
    """
    assert on_two_devices(code)["same"]
    config = CONFIG.replace(network=network)
    options = {"num_seeds": 2, "env": probes.PrivilegedReward(), "checkpoint_dir": tmp_path,
               "segment_updates": 10}  # fmt: skip
    first, again = purejaxppo.train(config, **options), purejaxppo.train(config, **options)
    np.testing.assert_array_equal(first.metrics["value_loss"], again.metrics["value_loss"])
