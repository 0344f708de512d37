"""Threefry-2x32 keys whose hash compiles to one fused kernel on every backend.

jax lowers its threefry hash on XLA:CPU as a loop of five iterations (to keep compile times
short for programs that call it once), so every random draw inside a training loop costs a
nested loop of some twenty small kernels per call; the auto-reset's `env.reset` draws at every
env step. `UNROLLED` is a jax PRNG implementation with the same algorithm and the same counter
layout as jax's default (`jax_threefry_partitionable`, the default since jax 0.5), written as
straight-line uint32 arithmetic that XLA fuses into one kernel. Its keys give **the same bits**
as jax's default keys (tests/base/test_prng.py checks split, fold_in, 8/16/32-bit draws, training),
so switching a training run to them changes its speed and compile time, not what it learns.

`UNROLLED` is an internal detail of the trainer's step: `to_unrolled(tree)` turns the threefry
keys of a tree into `UNROLLED` keys (keys of any other impl stay as they are, so they train on
their own stream), and `to_threefry(tree)` turns them back before anything leaves the step, so
callers only ever hold keys of their own kind (orbax restores them, jax's every sampler accepts
them). `wrap_like` turns key data back into keys of a given abstract key (checkpoints store key
data).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import define_prng_impl

from purejaxppo.base.errors import as_key

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)  # Threefry's key-schedule constant


def _rotate_left(x: jax.Array, bits: int) -> jax.Array:
    return (x << np.uint32(bits)) | (x >> np.uint32(32 - bits))


def threefry2x32(
    k1: jax.Array, k2: jax.Array, x1: jax.Array, x2: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The Threefry-2x32 hash (20 rounds; Salmon et al., SC 2011) of the counter pairs (x1, x2)
    [...] under the key (k1, k2) [] (all uint32), unrolled: ((y1, y2) [...])."""
    schedule = (k1, k2, k1 ^ k2 ^ _PARITY)
    x1, x2 = x1 + schedule[0], x2 + schedule[1]
    for block in range(5):
        for bits in _ROTATIONS[block % 2]:
            x1 = x1 + x2
            x2 = _rotate_left(x2, bits) ^ x1
        x1 = x1 + schedule[(block + 1) % 3]
        x2 = x2 + schedule[(block + 2) % 3] + np.uint32(block + 1)
    return x1, x2


def _counters(shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """The 64-bit row-major index of every element of `shape` as (high, low) uint32 words."""
    size = math.prod(shape)
    if size >= 2**32:
        raise NotImplementedError(f"more than 2**32 random values in one call ({shape})")
    low = jnp.arange(size, dtype=jnp.uint32).reshape(shape)
    return jnp.zeros(shape, jnp.uint32), low


def _seed(seed: jax.Array) -> jax.Array:
    # jax's threefry seeding: a bit cast of the (up to 64-bit) seed into two words, no hash. Not
    # `jax.random.key(seed, impl="threefry2x32")`, which would add `jax_random_seed_offset` a
    # second time (jax adds it before calling an impl's seed).
    seed = jnp.asarray(seed)
    if seed.dtype.itemsize == 8:
        high = jax.lax.shift_right_logical(seed, jnp.asarray(32, seed.dtype))
    else:
        high = jnp.zeros_like(seed)
    return jnp.stack([high.astype(jnp.uint32), seed.astype(jnp.uint32)])


def _split(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    high, low = _counters(shape)
    y1, y2 = threefry2x32(key[0], key[1], high, low)
    return jnp.stack([y1, y2], axis=-1)


def _fold_in(key: jax.Array, data: jax.Array) -> jax.Array:
    # jax hashes the counter pair (high, low) of `data` as a uint64 seed; high is 0 for uint32.
    low = jnp.asarray(data, jnp.uint32)[None]
    y1, y2 = threefry2x32(key[0], key[1], jnp.zeros_like(low), low)
    return jnp.concatenate([y1, y2])


def _random_bits(key: jax.Array, bit_width: int, shape: tuple[int, ...]) -> jax.Array:
    high, low = _counters(shape)
    y1, y2 = threefry2x32(key[0], key[1], high, low)
    if bit_width == 64:
        return (y1.astype(jnp.uint64) << np.uint64(32)) | y2.astype(jnp.uint64)
    return (y1 ^ y2).astype(jnp.dtype(f"uint{bit_width}"))


UNROLLED = define_prng_impl(
    key_shape=(2,),
    seed=_seed,
    split=_split,
    random_bits=_random_bits,
    fold_in=_fold_in,
    name="threefry2x32_unrolled",
    tag="fru",
)


def reproduces_default() -> bool:
    """Whether `UNROLLED` keys give the bits of jax's default keys right now: they follow the
    counter layout of `jax_threefry_partitionable`, jax's default since 0.5 (a user may turn
    it off)."""
    return bool(jax.config.jax_threefry_partitionable)


THREEFRY = "threefry2x32"


def _is_key(leaf: Any) -> bool:
    return hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _impl_name(key: Any) -> str:
    return str(jax.random.key_impl(key))


def as_unrolled(key: jax.Array) -> jax.Array:
    """A threefry key (typed, or raw uint32 [..., 2]) as an `UNROLLED` key of the same bits."""
    key = as_key(key)
    if _impl_name(key) != THREEFRY:
        raise ValueError(f"as_unrolled takes threefry2x32 keys, not {_impl_name(key)}")
    return jax.random.wrap_key_data(jax.random.key_data(key), impl=UNROLLED)


def to_unrolled(tree: Any) -> Any:
    """`tree` with every threefry2x32 key as an `UNROLLED` key (the same bits); other leaves,
    keys of other impls included, unchanged. Traceable; a bit cast, free once compiled."""

    def fast(x: Any) -> Any:
        if _is_key(x) and _impl_name(x) == THREEFRY:
            return jax.random.wrap_key_data(jax.random.key_data(x), impl=UNROLLED)
        return x

    return jax.tree.map(fast, tree)


def to_threefry(tree: Any) -> Any:
    """The inverse of `to_unrolled`: every `UNROLLED` key back as a threefry2x32 key."""

    def back(x: Any) -> Any:
        if _is_key(x) and jax.random.key_impl(x) == UNROLLED:
            return jax.random.wrap_key_data(jax.random.key_data(x), impl=THREEFRY)
        return x

    return jax.tree.map(back, tree)


def impl_of(key: Any) -> Any:
    """The PRNG impl of a key or of an abstract key (`jax.ShapeDtypeStruct`)."""
    found = []
    jax.eval_shape(lambda k: found.append(jax.random.key_impl(k)), key)
    return found[0]


def wrap_like(data: jax.Array, like: Any) -> jax.Array:
    """Key data [..., W] as keys of the impl of `like` (a key or an abstract key)."""
    return jax.random.wrap_key_data(data, impl=impl_of(like))


def fingerprint(key: jax.Array) -> Any:
    """What a run directory records of a key: its data, and its impl when not threefry2x32 (so
    a resume with another kind of key is refused rather than mixed)."""
    data = np.asarray(jax.random.key_data(key)).tolist()
    impl = _impl_name(key)
    return data if impl == THREEFRY else {"impl": impl, "data": data}
