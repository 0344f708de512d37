"""Scores of runs from their per-update metrics, one definition wherever a run is scored: inside
the compiled loop (PBT's and ES's fitness) and on the host (summaries, a sweep's columns, the
command line, learning curves). Every function maps metrics with leaves [..., T] (T updates) to
[...]; it is written in jnp, so a host call on NumPy arrays gives the numbers the compiled
loop gives.

A run that diverged (a non-finite loss, gradient or parameter: its `nonfinite` metric) scores
NaN, and so does a run with nothing to score (no episode finished in the window): a search ranks
NaN last and a summary leaves it out; neither is ever averaged in as a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

FINAL_FRACTION = 0.05  # the final return: the episodes that finished in the last 5% of updates

ScoreFn = Callable[[dict[str, jax.Array]], jax.Array]


def diverged_at(nonfinite: jax.Array) -> jax.Array:
    """[..., T] flags -> [...] int32: the first update whose losses, gradients or parameters
    were not finite, or -1 for a run that never diverged."""
    flags = jnp.asarray(nonfinite) > 0
    return jnp.where(flags.any(axis=-1), jnp.argmax(flags, axis=-1), -1).astype(jnp.int32)


def diverged(metrics: dict[str, jax.Array]) -> jax.Array:
    """[...] bool: the run diverged at some update."""
    return jnp.any(jnp.asarray(metrics["nonfinite"]) > 0, axis=-1)


def _unless_diverged(metrics: dict[str, jax.Array], value: jax.Array) -> jax.Array:
    return jnp.where(diverged(metrics), jnp.nan, value)


def windowed_mean(
    metrics: dict[str, jax.Array], name: str, fraction: float = FINAL_FRACTION
) -> jax.Array:
    """Mean of the per-episode metric `name` (a return, the win rate) over the episodes that
    finished in the last `fraction` of updates (each update weighted by how many finished in
    it); NaN when none did. `fraction=1.0` scores every update."""
    values = jnp.asarray(metrics[name], jnp.float32)
    window = max(1, math.ceil(values.shape[-1] * fraction))
    values = values[..., -window:]
    count = jnp.asarray(metrics["episodes_finished"])[..., -window:].astype(jnp.float32)
    total = jnp.sum(jnp.where(count > 0, values * count, 0.0), axis=-1)
    finished = jnp.sum(count, axis=-1)
    value = jnp.where(finished > 0, total / jnp.maximum(finished, 1.0), jnp.nan)
    return _unless_diverged(metrics, value)


def windowed_return(metrics: dict[str, jax.Array], fraction: float = FINAL_FRACTION) -> jax.Array:
    """Mean return of the episodes that finished in the last `fraction` of updates (weighted by
    how many finished in each update); NaN when none did. `fraction=1.0` scores every update."""
    return windowed_mean(metrics, "episode_return", fraction)


def final_return(metrics: dict[str, jax.Array]) -> jax.Array:
    """The final return, as every summary reports it: `windowed_return` of the last 5%."""
    return windowed_return(metrics, FINAL_FRACTION)


def area_under_curve(metrics: dict[str, jax.Array]) -> jax.Array:
    """Mean over updates of the per-update mean episode return (updates in which no episode
    finished skipped): rewards learning fast, not only ending well."""
    returns = jnp.asarray(metrics["episode_return"], jnp.float32)
    finished = jnp.asarray(metrics["episodes_finished"]) > 0
    total = jnp.sum(jnp.where(finished, returns, 0.0), axis=-1)
    count = jnp.sum(finished, axis=-1)
    value = jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)
    return _unless_diverged(metrics, value)


SCORES: dict[str, ScoreFn] = {
    "final_return": final_return,
    "area_under_curve": area_under_curve,
}
