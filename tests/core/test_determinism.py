"""Same key -> identical results; different keys -> different; a vmapped sweep == one by one."""

from __future__ import annotations

import jax
import numpy as np

from purejaxppo import HyperParams, make_train


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def run(tree, i: int):
    """Run i of a batched pytree."""
    return jax.tree.map(lambda v: v[i], tree)


def test_same_key_is_bit_identical(small_train, small_config):
    a = small_train(jax.random.key(3), small_config.hparams)
    b = small_train(jax.random.key(3), small_config.hparams)
    for x, y in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_same_key_is_bit_identical_across_compilations(small_train, small_config):
    again = jax.jit(make_train(small_config))  # a fresh trace and compile of the same config
    a = small_train(jax.random.key(3), small_config.hparams)
    b = again(jax.random.key(3), small_config.hparams)
    for x, y in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_different_keys_differ(small_train, small_config):
    a = small_train(jax.random.key(0), small_config.hparams)
    b = small_train(jax.random.key(1), small_config.hparams)
    assert not np.array_equal(
        a.params["params"]["actor_net"]["Dense_0"]["kernel"],
        b.params["params"]["actor_net"]["Dense_0"]["kernel"],
    )
    assert not np.allclose(a.metrics["policy_loss"], b.metrics["policy_loss"])


def test_seed_vmap_equals_single_runs(small_train, small_train_seeds, small_config):
    keys = jax.random.split(jax.random.key(0), 3)
    batched = small_train_seeds(keys, small_config.hparams)
    for i in range(3):
        single = small_train(keys[i], small_config.hparams)
        for x, y in zip(leaves(single), leaves(run(batched, i)), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_hyperparameter_sweep_equals_runs_one_at_a_time(small_train, small_config):
    rates = [1e-4, 1e-3, 1e-2]
    base = small_config.hparams
    sweep = HyperParams.stack([base.replace(learning_rate=np.float32(lr)) for lr in rates])
    sweep = sweep.replace(ent_coef=np.asarray([0.0, 0.01, 0.02], np.float32))
    swept = jax.jit(jax.vmap(make_train(small_config), in_axes=(None, 0)))(jax.random.key(5), sweep)
    for i in range(len(rates)):
        one = run(sweep, i)
        single = small_train(jax.random.key(5), one)
        for x, y in zip(leaves(single), leaves(run(swept, i)), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    # The sweep really varied something: the runs end with different parameters.
    kernels = swept.params["params"]["critic_net"]["Dense_0"]["kernel"]
    assert not np.allclose(kernels[0], kernels[2])
