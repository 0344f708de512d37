"""The ground floor: the error every bad input raises, and the small checks that raise it.

Nothing here imports another module of the package, so every module may import it.
"""

from __future__ import annotations

from typing import Any


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


def as_key(key: Any) -> Any:
    """A JAX PRNG key from an int seed or a key (new-style or raw uint32 data)."""
    import jax
    import numpy as np

    if is_int(key):
        return jax.random.key(int(key))
    if isinstance(key, (jax.Array, np.ndarray)) and not jax.dtypes.issubdtype(
        key.dtype, jax.dtypes.prng_key
    ):
        return jax.random.wrap_key_data(key)
    return key
