"""Schedules and the learned drift are traced inputs: the special cases equal the built-in paths,
and sweeps and PBT search over them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import purejaxppo
from purejaxppo import ConfigError, HyperParams, PPOConfig, Range
from purejaxppo.core.drift import clip_drift_params, drift, drift_objective_loss
from purejaxppo.core.loss import clipped_surrogate
from purejaxppo.core.schedules import multiplier
from purejaxppo.search.space import parse_space

KEY = jax.random.key(3)


def run(config: PPOConfig, hparams: HyperParams | None = None):
    train = jax.jit(purejaxppo.make_train(config))
    return train(KEY, config.hparams if hparams is None else hparams)


def leaves_equal(a, b) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_multiplier_interpolates_between_evenly_spaced_knots():
    knots = jnp.asarray([1.0, 0.5, 2.0])
    got = [float(multiplier(knots, jnp.asarray(p))) for p in (0.0, 0.25, 0.5, 0.75, 1.0)]
    np.testing.assert_allclose(got, [1.0, 0.75, 0.5, 1.25, 2.0])


def test_schedule_one_to_zero_is_linear_annealing(small_config):
    annealed = run(small_config)
    scheduled = run(small_config.replace(learning_rate_schedule=(1.0, 0.0), anneal_lr=False))
    np.testing.assert_allclose(
        scheduled.metrics["learning_rate"], annealed.metrics["learning_rate"], rtol=1e-6
    )
    for a, b in zip(
        jax.tree.leaves(scheduled.params), jax.tree.leaves(annealed.params), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_constant_schedules_change_no_bit(small_config):
    plain = small_config.replace(anneal_lr=False)
    ones = plain.replace(
        learning_rate_schedule=(1.0, 1.0), ent_coef_schedule=(1.0, 1.0, 1.0),
        clip_eps_schedule=(1.0, 1.0),
    )  # fmt: skip
    leaves_equal(run(ones).params, run(plain).params)


def test_a_clip_schedule_is_used(small_config):
    tight = small_config.replace(clip_eps_schedule=(0.0, 0.0))  # every change is clipped
    # All but the first of the 8 minibatch steps (where the policy is the collecting one).
    assert float(np.mean(run(tight).metrics["clip_fraction"])) > 0.85
    assert float(np.mean(run(small_config).metrics["clip_fraction"])) < 0.5


def test_schedule_values_are_checked_at_config_time():
    with pytest.raises(ConfigError, match="anneal_lr=False"):
        PPOConfig(learning_rate_schedule=(1.0, 0.0))
    with pytest.raises(ConfigError, match="two or more finite multipliers"):
        PPOConfig(ent_coef_schedule=(1.0,))
    with pytest.raises(ConfigError, match="ent_coef_schedule"):
        PPOConfig(ent_coef_schedule=(1.0, -0.5))
    with pytest.raises(ConfigError, match="number of knots"):
        purejaxppo.sweep(PPOConfig(), {"ent_coef_schedule": Range(0.0, 1.0)}, mode="random")


def test_sweep_over_whole_schedules_has_a_column_per_knot(small_config):
    config = small_config.replace(learning_rate_schedule=(1.0, 1.0), anneal_lr=False)
    space = parse_space(("learning_rate_schedule=1/0,1/1",))
    result = purejaxppo.sweep(config, space, num_seeds=2)
    assert result.names == ("learning_rate_schedule[0]", "learning_rate_schedule[1]")
    assert result.configs["learning_rate_schedule[1]"].tolist() == [0.0, 1.0]
    lr = result.result.metrics["learning_rate"]  # [runs, updates]
    np.testing.assert_allclose(lr[result.result.setting == 1], 2.5e-4, rtol=1e-6)
    assert np.all(np.diff(lr[result.result.setting == 0], axis=1) < 0)


def test_pbt_explores_schedule_knots(small_config):
    config = small_config.replace(ent_coef_schedule=(1.0, 1.0, 1.0))
    result = purejaxppo.pbt(
        config, population=4, interval=4, space={"ent_coef_schedule": Range(0.5, 2.0)}
    )
    knots = result.hparams["ent_coef_schedule"]
    assert knots.shape == (3 + 1, 4, 3)
    assert np.all((knots >= 0.5 * 0.8**3) & (knots <= 2.0 * 1.2**3))
    assert result.final_hparams.ent_coef_schedule.shape == (4, 3)


def test_clip_drift_is_ppo_clip_for_every_ratio_and_advantage():
    log_ratio = jnp.linspace(-1.5, 1.5, 61)[:, None] * jnp.ones((1, 41))
    ratio = jnp.exp(log_ratio)
    advantage = jnp.linspace(-3.0, 3.0, 41)[None, :] * jnp.ones((61, 1))
    phi = jax.tree.map(jnp.asarray, clip_drift_params(0.2, hidden=8))
    objective = ratio * advantage - drift(phi, log_ratio, advantage)
    clipped = jnp.minimum(ratio * advantage, jnp.clip(ratio, 0.8, 1.2) * advantage)
    np.testing.assert_allclose(objective, clipped, atol=1e-6)
    np.testing.assert_allclose(
        drift_objective_loss(phi, log_ratio.ravel(), advantage.ravel()),
        clipped_surrogate(ratio.ravel(), advantage.ravel(), 0.2),
        rtol=1e-6,
    )


def test_any_drift_is_non_negative_zero_at_ratio_one_and_ignores_the_advantage_gradient():
    keys = jax.random.split(jax.random.key(0), 4)
    phi = {
        "w1": jax.random.normal(keys[0], (6, 8)),
        "b1": jax.random.normal(keys[1], (8,)),
        "w2": jax.random.normal(keys[2], (8,)),
    }
    log_ratio = jax.random.normal(keys[3], (64,)) * 0.3
    advantage = jnp.linspace(-2.0, 2.0, 64)
    assert jnp.all(drift(phi, log_ratio, advantage) >= 0)
    np.testing.assert_array_equal(drift(phi, jnp.zeros(64), advantage), 0.0)
    by_advantage = jax.grad(lambda a: jnp.sum(drift(phi, log_ratio, a)))(advantage)
    np.testing.assert_array_equal(by_advantage, 0.0)
    by_ratio = jax.grad(lambda r: jnp.sum(drift(phi, r, advantage)))(log_ratio)
    assert jnp.any(by_ratio != 0)


def test_drift_stays_finite_when_the_ratio_underflows():
    # exp(-200) is 0 in float32; log(0) would make every member of the family NaN.
    phi = jax.tree.map(jnp.asarray, clip_drift_params(0.2, hidden=8))
    log_ratio = jnp.array([-200.0, -120.0, 0.0, 60.0])
    advantage = jnp.array([1.0, -1.0, 0.5, -2.0])
    loss, grad = jax.value_and_grad(drift_objective_loss, argnums=1)(phi, log_ratio, advantage)
    assert jnp.isfinite(loss) and jnp.all(jnp.isfinite(grad))


def test_learned_drift_starting_as_clip_trains_like_the_default(small_config):
    default = run(small_config)
    learned = small_config.replace(objective="learned_drift", drift_hidden=4)
    assert learned.hparams.drift["w1"].shape == (6, 4)
    result = run(learned)
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(default.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_drift_is_a_traced_input_vmapped_like_any_hyperparameter(small_config):
    # A large step, so that the clip (the drift of the first setting) is active.
    config = small_config.replace(objective="learned_drift", drift_hidden=4, learning_rate=0.02)
    other = config.hparams.replace(
        drift=jax.tree.map(lambda x: x * 0.0, config.hparams.drift)  # no drift: plain r A
    )
    stacked = HyperParams.stack([config.hparams, other])
    result = purejaxppo.train(config, num_seeds=1, hparams=stacked)
    assert result.metrics["policy_loss"].shape[0] == 2
    assert result.metrics["clip_fraction"][0].max() > 0
    kernel = result.params["params"]["actor_net"]["Dense_0"]["kernel"]
    assert np.any(kernel[0] != kernel[1])


def test_hparams_must_match_the_config():
    with pytest.raises(ConfigError, match=r"hparams\.drift does not match"):
        purejaxppo.train(PPOConfig(total_timesteps=512), hparams=PPOConfig(
            objective="learned_drift").hparams)  # fmt: skip
    with pytest.raises(ConfigError, match="set in some and None in others"):
        HyperParams.stack([PPOConfig().hparams, PPOConfig(objective="learned_drift").hparams])
    with pytest.raises(ConfigError, match="evolution strategy"):
        purejaxppo.sweep(PPOConfig(objective="learned_drift"), {"drift": [0.0]})
