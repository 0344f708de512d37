"""Domain randomisation: parameters drawn per env at every reset, carried in the state, used by
the step, through make_train and the engine."""

from __future__ import annotations

import gymnax
import jax
import numpy as np
import pytest

import purejaxppo
from purejaxppo import ConfigError, make_train
from purejaxppo.envs.randomize import randomized
from purejaxppo.envs.registry import make_batched_step
from tests.tiny import tiny_config

TINY = tiny_config(6)


def pole_length(key, params):
    length = jax.random.uniform(key, minval=0.25, maxval=1.0)
    return params.replace(length=length, polemass_length=params.masspole * length)


def test_each_env_draws_its_parameters_at_every_reset():
    base, params = gymnax.make("CartPole-v1")
    env = randomized(base, pole_length, params)
    _, states = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(jax.random.key(0), 8), params
    )
    lengths = np.asarray(states.params.length)
    assert len(set(lengths.round(6))) == 8 and ((lengths >= 0.25) & (lengths <= 1.0)).all()
    step = make_batched_step(env, params, num_steps=200, num_envs=8)
    keys = step.keys(jax.random.key(1))
    redrawn = np.zeros(8, bool)
    for t in range(200):
        _, new, _, terminated, truncated, _ = step.step(keys[t], states, np.zeros(8, np.int32))
        done = np.asarray(terminated | truncated)
        changed = np.asarray(new.params.length) != np.asarray(states.params.length)
        np.testing.assert_array_equal(changed, done)  # a new draw exactly where an episode ended
        redrawn |= done
        states = new
    assert redrawn.any()


def test_the_step_uses_the_episodes_own_parameters():
    def no_track(key, params):  # the cart is out of bounds at once: every episode lasts 1 step
        return params.replace(x_threshold=0.0 * jax.random.uniform(key))

    result = jax.jit(make_train(TINY, randomize=no_track))(jax.random.key(0), TINY.hparams)
    np.testing.assert_allclose(result.metrics["episode_length"], 1.0)


def test_randomisation_trains_through_the_engine_and_resumes(tmp_path):
    options = {"num_seeds": 2, "randomize": pole_length, "checkpoint_dir": tmp_path,
               "segment_updates": 2}  # fmt: skip
    first = purejaxppo.train(TINY, **options)
    again = purejaxppo.train(TINY, **options)
    np.testing.assert_array_equal(first.metrics["policy_loss"], again.metrics["policy_loss"])
    scores = purejaxppo.evaluate(TINY, first.params, num_episodes=2, randomize=pole_length)
    assert scores.returns.shape == (2, 2)


def test_a_randomisation_that_changes_the_parameters_shape_is_refused():
    with pytest.raises(ConfigError, match=r"randomize=.*shaped like"):
        make_train(TINY, randomize=lambda key, params: {"length": 1.0})
