"""Threefry-2x32 keys whose hash compiles to one fused kernel on every backend.

jax lowers its threefry hash on XLA:CPU as a loop of five iterations (to keep compile times
short for programs that call it once), so every random draw inside a training loop costs a
nested loop of some twenty small kernels per call; the auto-reset's `env.reset` draws at every
env step. `UNROLLED` is a jax PRNG implementation with the same algorithm and the same counter
layout as jax's default (`jax_threefry_partitionable`, the default since jax 0.5), written as
straight-line uint32 arithmetic that XLA fuses into one kernel. Its keys give **the same bits**
as jax's default keys (tests/test_prng.py checks split, fold_in, 8/16/32-bit draws, training),
so switching a training run to them changes its speed and compile time, not what it learns.

`as_unrolled(key)` reinterprets a key (typed or raw uint32) as an `UNROLLED` key; `wrap_like`
turns key data back into keys of a given key dtype (checkpoints store key data).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import define_prng_impl

from purejaxppo.errors import as_key

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
    # Threefry seeding is a bit cast, no hash: jax's own is the same function.
    return jax.random.key_data(jax.random.key(seed, impl="threefry2x32"))


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


def as_unrolled(key: jax.Array) -> jax.Array:
    """`key` (a typed threefry key or a raw uint32 [2] key) as an `UNROLLED` key."""
    return jax.random.wrap_key_data(jax.random.key_data(as_key(key)), impl=UNROLLED)


@functools.cache
def _unrolled_dtype() -> jnp.dtype:
    return jax.eval_shape(as_unrolled, jax.ShapeDtypeStruct((2,), jnp.uint32)).dtype


def wrap_like(data: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """Key data [..., 2] as keys of `dtype` (an `UNROLLED` key's, or jax's default)."""
    return jax.random.wrap_key_data(data, impl=UNROLLED if dtype == _unrolled_dtype() else None)
