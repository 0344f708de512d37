"""Fitness of runs from their per-update metrics, inside the compiled loop (PBT and ES rank by it).

Every function maps one run's metrics (leaves [T], T updates; or [..., T] for many runs) to a
score, higher is better, and gives NaN for a run whose training diverged (any non-finite loss,
gradient or parameter) or that has nothing to score: a search ranks NaN last and never averages
it in as a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from purejaxppo.stats import FINAL_FRACTION

FitnessFn = Callable[[dict[str, jax.Array]], jax.Array]


def _diverged_to_nan(metrics: dict[str, jax.Array], value: jax.Array) -> jax.Array:
    return jnp.where(jnp.any(metrics["nonfinite"] > 0, axis=-1), jnp.nan, value)


def windowed_return(metrics: dict[str, jax.Array], fraction: float = FINAL_FRACTION) -> jax.Array:
    """Mean return of the episodes that finished in the last `fraction` of updates (weighted by
    how many finished in each update); NaN when none did. `fraction=1.0` scores every update."""
    updates = metrics["episode_return"].shape[-1]
    window = max(1, math.ceil(updates * fraction))
    returns = metrics["episode_return"][..., -window:]
    count = metrics["episodes_finished"][..., -window:].astype(jnp.float32)
    total = jnp.sum(jnp.where(count > 0, returns * count, 0.0), axis=-1)
    finished = jnp.sum(count, axis=-1)
    value = jnp.where(finished > 0, total / jnp.maximum(finished, 1.0), jnp.nan)
    return _diverged_to_nan(metrics, value)


def final_return(metrics: dict[str, jax.Array]) -> jax.Array:
    """The final return as summaries report it: the last 5% of updates (`windowed_return`)."""
    return windowed_return(metrics, FINAL_FRACTION)


def area_under_curve(metrics: dict[str, jax.Array]) -> jax.Array:
    """Mean over updates of the per-update mean episode return (updates without a finished
    episode skipped): rewards learning fast, not only ending well."""
    returns = metrics["episode_return"]
    finished = metrics["episodes_finished"] > 0
    total = jnp.sum(jnp.where(finished, returns, 0.0), axis=-1)
    count = jnp.sum(finished, axis=-1)
    value = jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)
    return _diverged_to_nan(metrics, value)


FITNESS_FUNCTIONS: dict[str, FitnessFn] = {
    "final_return": final_return,
    "area_under_curve": area_under_curve,
}
