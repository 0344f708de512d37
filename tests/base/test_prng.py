"""prng.UNROLLED keys give exactly the bits of jax's default keys, so training with them
(Tuning.unrolled_prng, the CPU default) learns exactly what it learned without them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxppo import ConfigError, PPOConfig, make_train
from purejaxppo.base.errors import as_key
from purejaxppo.base.prng import UNROLLED, as_unrolled, threefry2x32
from purejaxppo.core.trainer import make_train_functions
from purejaxppo.core.tuning import Tuning
from purejaxppo.engine.checkpoint import from_host, to_host
from tests.tiny import tiny_config

DRAWS = {
    "split": lambda k: jax.random.key_data(jax.random.split(k, (3, 5))),
    "fold_in": lambda k: jax.random.key_data(jax.random.fold_in(k, 4_000_000_007)),
    "bits8": lambda k: jax.random.bits(k, (17,), jnp.uint8),
    "bits16": lambda k: jax.random.bits(k, (3, 7), jnp.uint16),
    "bits32": lambda k: jax.random.bits(k, (1001,)),
    "uniform": lambda k: jax.random.uniform(k, (4, 3), minval=-0.05, maxval=0.05),
    "normal": lambda k: jax.random.normal(k, (257,)),
    "gumbel": lambda k: jax.random.gumbel(k, (128, 4, 2)),
    "randint": lambda k: jax.random.randint(k, (9,), 0, 1000),
    "permutation": lambda k: jax.random.permutation(k, 100),
    "choice": lambda k: jax.random.choice(k, 10, (5,), p=jnp.arange(10.0) / 45),
}


@pytest.mark.parametrize("draw", sorted(DRAWS))
def test_same_bits_as_jax_default_keys(draw):
    fn = DRAWS[draw]
    for seed in (0, 7, 2**31 - 1):
        key = jax.random.key(seed)
        np.testing.assert_array_equal(fn(key), fn(as_unrolled(key)))
    batched = jax.jit(jax.vmap(fn))
    keys = jax.random.split(jax.random.key(1), 4)
    np.testing.assert_array_equal(batched(keys), batched(as_unrolled(keys)))


def test_hash_matches_jax_threefry_on_known_input():
    # The Random123 known-answer vector for Threefry-2x32-20: key (0, 0), counter (0, 0).
    y1, y2 = threefry2x32(jnp.uint32(0), jnp.uint32(0), jnp.uint32(0), jnp.uint32(0))
    assert (int(y1), int(y2)) == (0x6B200159, 0x99BA4EFE)
    raw = jax.extend.random.threefry_2x32(
        jnp.array([123, 456], jnp.uint32), jnp.arange(6, dtype=jnp.uint32)
    )
    y1, y2 = threefry2x32(jnp.uint32(123), jnp.uint32(456), jnp.arange(3, dtype=jnp.uint32),
                          jnp.arange(3, 6, dtype=jnp.uint32))  # fmt: skip
    np.testing.assert_array_equal(raw, jnp.concatenate([y1, y2]))


def test_seeding_matches_jax():
    for seed in (0, 5, 2**31 - 1):
        np.testing.assert_array_equal(
            jax.random.key_data(jax.random.key(seed, impl=UNROLLED)),
            jax.random.key_data(jax.random.key(seed)),
        )


def test_raw_keys_and_checkpoints_keep_their_kind():
    raw = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(
        jax.random.uniform(raw, (4,)), jax.random.uniform(as_unrolled(raw), (4,))
    )
    tree = {
        "a": as_unrolled(jax.random.split(jax.random.key(0), 2)),
        "b": jax.random.key(1),
        "c": jax.random.key(2, impl="rbg"),
    }
    back = from_host(to_host(tree), jax.eval_shape(lambda: tree))
    assert jax.random.key_impl(back["a"]) == UNROLLED
    assert back["b"].dtype == tree["b"].dtype
    assert back["c"].dtype == tree["c"].dtype
    for name in tree:
        np.testing.assert_array_equal(
            jax.random.key_data(back[name]), jax.random.key_data(tree[name])
        )


@pytest.mark.parametrize("partitionable", [True, False])
def test_training_with_unrolled_keys_is_bit_identical(partitionable):
    # With jax's other counter layout the trainer keeps jax's keys (UNROLLED would differ).
    config = PPOConfig(num_envs=4, num_steps=32, total_timesteps=4 * 32 * 4, num_minibatches=2)
    with jax.threefry_partitionable(partitionable):
        runs = [
            jax.jit(jax.vmap(make_train(config, tuning=Tuning(unrolled_prng=u)), (0, None)))(
                jax.random.split(jax.random.key(0), 2), config.hparams
            )
            for u in (False, True)
        ]
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1]), strict=True):
        np.testing.assert_array_equal(a, b)


TINY = tiny_config(4)


def _impls(tree) -> set[str]:
    return {
        str(jax.random.key_impl(x))
        for x in jax.tree.leaves(tree)
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
    }


@pytest.fixture(scope="module")
def tiny_functions():
    return make_train_functions(TINY, tuning=Tuning(unrolled_prng=True))


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg", "unsafe_rbg", "philox4x32"])
def test_states_keep_the_callers_kind_of_key(tiny_functions, impl):
    # The fast keys are internal: init's and step's states hold the caller's kind only, so
    # they stack with the caller's keys and every jax sampler accepts them.
    state = jax.jit(tiny_functions.init)(jax.random.key(0, impl=impl))
    assert _impls(state) == {impl}
    state, _ = jax.jit(tiny_functions.step)(state, TINY.hparams)
    assert _impls(state) == {impl}
    jnp.stack([state.key, jax.random.key(1, impl=impl)])
    if impl == "threefry2x32":  # jax's poisson takes threefry keys only (and not UNROLLED ones)
        jax.random.poisson(state.key, 3.0)


def test_other_impls_train_on_their_own_stream():
    # Only threefry keys are swapped for UNROLLED ones (the same bits); a philox key must train
    # exactly as it does without the fast keys.
    key = jax.random.key(0, impl="philox4x32")
    runs = [
        jax.jit(make_train(TINY, tuning=Tuning(unrolled_prng=u)))(key, TINY.hparams)
        for u in (False, True)
    ]
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_default_impl_setting_trains_through_the_library(tmp_path):
    from purejaxppo import train

    with jax.default_prng_impl("rbg"):
        result = train(TINY, num_seeds=2, key=0)
        assert np.isfinite(result.metrics["policy_loss"]).all()
    result = train(TINY, num_seeds=2, key=jax.random.key(3, impl="rbg"), checkpoint_dir=tmp_path)
    assert np.isfinite(result.metrics["policy_loss"]).all()


def test_a_user_held_train_state_round_trips_through_orbax(tiny_functions, tmp_path):
    import orbax.checkpoint as ocp

    state = jax.jit(tiny_functions.init)(jax.random.key(5))
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(tmp_path / "state", state)
        checkpointer.wait_until_finished()
        back = checkpointer.restore(tmp_path / "state", jax.eval_shape(lambda: state))
    np.testing.assert_array_equal(jax.random.key_data(back.key), jax.random.key_data(state.key))


def test_seed_offset_is_applied_once():
    jax.config.update("jax_random_seed_offset", 7)
    try:
        np.testing.assert_array_equal(
            jax.random.key_data(jax.random.key(3, impl=UNROLLED)),
            jax.random.key_data(jax.random.key(3)),
        )
    finally:
        jax.config.update("jax_random_seed_offset", 0)
    np.testing.assert_array_equal(jax.random.key_data(jax.random.key(3, impl=UNROLLED)), [0, 3])


def test_raw_keys_of_either_width_and_bad_seeds():
    assert str(jax.random.key_impl(as_key(np.zeros(2, np.uint32)))) == "threefry2x32"
    assert str(jax.random.key_impl(as_key(np.zeros((3, 4), np.uint32)))) == "rbg"
    for bad in (2**70, 2**32, -(2**40), np.zeros(3, np.uint32), np.zeros(2, np.float32), "0"):
        with pytest.raises(ConfigError, match="key="):
            as_key(bad)


def test_x64_mode_trains(tmp_path):
    from purejaxppo import train

    with jax.enable_x64(True):
        result = jax.jit(make_train(TINY))(jax.random.key(0), TINY.hparams)
        assert np.isfinite(result.metrics["policy_loss"]).all()
        runs = train(TINY, num_seeds=2, key=1, checkpoint_dir=tmp_path, segment_updates=2)
        assert np.isfinite(runs.metrics["policy_loss"]).all()
