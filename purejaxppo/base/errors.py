"""The ground floor: the error every bad input raises, and the small checks that raise it.

Nothing here imports another module of the package, so every module may import it.
"""

from __future__ import annotations

from typing import Any

# The command line's exit status when every run diverged (non-finite losses or parameters).
EXIT_DIVERGED = 3


class ConfigError(ValueError):
    """A configuration or argument that cannot work; the message names the field, the value and
    the fix. The command line prints it without a traceback and exits with status 2."""


def config_error(field: str, value: object, problem: str, fix: str) -> ConfigError:
    """`field=value: problem. Fix: fix.` — the one shape of every message."""
    return ConfigError(f"{field}={value!r}: {problem}. Fix: {fix}.")


def is_int(value: object) -> bool:
    """A Python or NumPy integer, but not a bool."""
    import numpy as np

    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_positive_int(field: str, value: object, example: int, allow_none: bool = False) -> None:
    """Raise unless `value` is an integer >= 1 (or None, when allowed)."""
    if value is None and allow_none:
        return
    if not is_int(value) or value < 1:  # type: ignore[operator]
        also = " or left unset" if allow_none else ""
        raise config_error(field, value, f"must be a positive integer{also}", f"use e.g. {example}")


# Seeds jax maps to distinct keys without x64: larger ints wrap around (2**32 seeds key 0).
SEED_RANGE = (-(2**31), 2**32)
# Raw key data is read as the default impl's keys when its width fits, else as these.
_RAW_IMPLS = ("threefry2x32", "rbg")


def as_key(key: Any, field: str = "key") -> Any:
    """A typed JAX PRNG key from an int seed, a typed key (kept as it is, whatever its impl) or
    raw uint32 key data [..., W] (the default impl's keys when W fits it, else threefry2x32's
    (W = 2) or rbg's (W = 4)). Anything else is a ConfigError naming `field`."""
    import jax
    import numpy as np

    if is_int(key):
        low, high = SEED_RANGE
        if not low <= int(key) < high:
            raise config_error(
                field,
                key,
                "is outside the seeds jax keeps apart (larger ones wrap around)",
                f"use a seed in [0, {high})",
            )
        return jax.random.key(int(key))
    if not isinstance(key, (jax.Array, np.ndarray)):
        raise config_error(
            field, key, "is not a seed or a PRNG key", "pass an int seed or jax.random.key(seed)"
        )
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if key.dtype != np.uint32 or key.ndim < 1:
        raise config_error(
            field,
            f"array of {key.dtype} {tuple(key.shape)}",
            "raw key data must be uint32 [..., W]",
            "pass jax.random.key(seed) or an int seed",
        )
    width = key.shape[-1]
    for impl in (jax.config.jax_default_prng_impl, *_RAW_IMPLS):
        data = jax.eval_shape(lambda impl=impl: jax.random.key_data(jax.random.key(0, impl=impl)))
        if data.shape[-1] == width:
            return jax.random.wrap_key_data(key, impl=impl)
    raise config_error(
        field,
        f"uint32 array {tuple(key.shape)}",
        f"no PRNG implementation has keys of {width} words",
        "pass a typed key, jax.random.key(seed, impl=...)",
    )
