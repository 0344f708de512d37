"""Brax through the gymnax interface: ids, termination vs truncation, every env, a learning test."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("brax")  # the brax extra; `make test` installs it

import purejaxppo
from purejaxppo import ConfigError, PPOConfig, make_train
from purejaxppo.envs.brax import BraxEnvironment, brax_env_names
from purejaxppo.envs.ids import canonical_env_id, parse_brax_id
from purejaxppo.envs.registry import describe_env_id

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow


def test_brax_ids():
    assert parse_brax_id("brax:hopper") == ("hopper", None)
    assert parse_brax_id("brax:inverted_pendulum-spring") == ("inverted_pendulum", "spring")
    assert parse_brax_id("CartPole-v1") is None
    assert parse_brax_id("jumanji:Snake-v1") is None
    # The older form still reads, and names the same environment and preset.
    assert parse_brax_id("hopper-brax") == ("hopper", None)
    assert parse_brax_id("inverted_pendulum-brax-spring") == ("inverted_pendulum", "spring")
    assert parse_brax_id("hopper-brax-nope") is None
    assert canonical_env_id("inverted_pendulum-brax-spring") == "brax:inverted_pendulum-spring"
    assert canonical_env_id("CartPole-v1") == "CartPole-v1"
    assert purejaxppo.preset("hopper-brax") == purejaxppo.preset("brax:hopper")
    config = PPOConfig(env_id="brax:nope")  # a Brax id by its form; the name is checked on build
    with pytest.raises(ConfigError, match=r"Brax has no environment 'nope'"):
        make_train(config)


def test_time_limit_is_a_truncation_and_a_fall_is_a_termination():
    env = BraxEnvironment("inverted_pendulum")
    params = env.default_params.replace(max_steps_in_episode=3)
    step = jax.jit(env.step)
    obs, state = env.reset(jax.random.key(0), params)
    still = jnp.zeros((1,))
    for t in range(3):
        obs, state, reward, terminated, truncated, info = step(
            jax.random.key(t), state, still, params
        )
    # The pole stays up for 3 steps without a push: the time limit ends the episode.
    assert not bool(terminated) and bool(truncated) and float(reward) == 1.0
    assert not np.allclose(info["final_observation"], obs)  # obs is the next episode's first

    params = env.default_params
    obs, state = env.reset(jax.random.key(1), params)
    push = jnp.ones((1,))
    for t in range(200):
        obs, state, _, terminated, truncated, info = step(jax.random.key(t), state, push, params)
        if bool(terminated):
            break
    assert bool(terminated) and not bool(truncated) and 1 <= t < 200  # the pole fell
    assert abs(float(info["final_observation"][1])) > 0.2  # past Brax's angle limit


def test_brax_lists_its_environments():
    assert {"ant", "hopper", "halfcheetah", "inverted_pendulum"} <= set(brax_env_names())


# Building a Brax system takes 5-20 s per env on 2 CPU cores: a sample, not all twelve (the
# presets test builds hopper and ant too).
@pytest.mark.parametrize("name", ["inverted_pendulum", "hopper"])
def test_brax_envs_have_flat_box_spaces(name):
    spec = describe_env_id(f"brax:{name}")
    assert spec.name == f"brax:{name}"
    assert not spec.discrete and spec.num_actions >= 1 and len(spec.obs_shape) == 1
    np.testing.assert_array_equal(spec.action_low, -1.0)
    np.testing.assert_array_equal(spec.action_high, 1.0)


def test_inverted_pendulum_learns():
    config = PPOConfig(
        env_id="brax:inverted_pendulum", num_envs=16, num_steps=64, total_timesteps=100_000,
        update_epochs=10, num_minibatches=8, learning_rate=3e-4, ent_coef=0.0,
        normalize_obs=True,
    )  # fmt: skip
    result = purejaxppo.train(config, num_seeds=4, key=0)
    first = np.nanmean(result.metrics["episode_return"][:, :5])
    assert first < 50.0  # a random policy drops the pole within a few steps
    assert np.mean(result.final_returns) >= 200.0, result.final_returns  # the limit is 1000


def strong_or_weak_gravity(key, params):
    g = jnp.where(jax.random.bernoulli(key), -12.0, -2.0)
    return params.replace(sys=params.sys.tree_replace({"gravity": jnp.array([0.0, 0.0, g])}))


def test_the_brax_system_is_randomised_per_episode_and_simulated():
    env = BraxEnvironment("inverted_pendulum", "positional")
    params = env.default_params
    weak = params.replace(sys=params.sys.tree_replace({"gravity": jnp.array([0.0, 0.0, -2.0])}))
    key = jax.random.key(0)

    @jax.jit
    def angle_after(params):  # the same start and actions under two gravities
        def step(_, carry):
            obs, state, _, _, _ = env.step_env(key, carry[1], jnp.zeros((1,)), params)
            return obs, state

        # A loop: 40 unrolled physics steps took minutes to compile.
        obs, _ = jax.lax.fori_loop(0, 40, step, env.reset_env(key, params))
        return obs[1]

    assert abs(float(angle_after(params)) - float(angle_after(weak))) > 1e-4
    config = PPOConfig(env_id="brax:inverted_pendulum-positional", num_envs=4, num_steps=16,
                       total_timesteps=4 * 16 * 2, num_minibatches=2)  # fmt: skip
    runs = purejaxppo.train(config, num_seeds=1, randomize=strong_or_weak_gravity)
    assert np.isfinite(runs.metrics["policy_loss"]).all()
