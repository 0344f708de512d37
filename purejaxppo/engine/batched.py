"""The core's step over a batch of runs, for the engine's segment functions.

`init` starts R runs from their keys; `updates` advances every run by some updates (a fixed
number, or a traced count up to a bound) and returns their metrics [R, length]. With a progress
callback, every `progress_every`-th update makes one host call with sums over all R runs (never
one per run).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from purejaxppo.core.hparams import HyperParams
from purejaxppo.core.trainer import TrainFunctions, TrainState

# progress(updates_done, return_sum, episodes_finished): sums over all runs of one update.
ProgressFn = Callable[[Any, Any, Any], None]

# A host callback is not free on a GPU (BENCHMARKS.md, "What the conveniences cost"), so the
# progress bar is fed every few updates, not every update.
DEFAULT_PROGRESS_EVERY = 10


@dataclasses.dataclass(frozen=True)
class BatchedTraining:
    functions: TrainFunctions
    progress: ProgressFn | None = None
    progress_every: int = DEFAULT_PROGRESS_EVERY
    key_impl: Any = None  # the PRNG impl of the runs' key data (None: jax's default)

    def keys(self, key_data: jax.Array) -> jax.Array:
        """Raw key data [R, W] (the engine's inputs are host arrays) as typed keys [R]."""
        return jax.random.wrap_key_data(key_data, impl=self.key_impl)

    def fold_in(self, key_data: jax.Array, data: jax.Array) -> jax.Array:
        """Each run's key [R, W] folded with `data` (e.g. a generation's index), as key data."""
        keys = jax.vmap(jax.random.fold_in, (0, None))(self.keys(key_data), data)
        return jax.random.key_data(keys)

    def init(self, key_data: jax.Array) -> TrainState:
        """R runs started from raw key data [R, W]; runs start alike whatever their
        hyperparameters, which enter only with the updates."""
        return jax.vmap(self.functions.init)(self.keys(key_data))

    def _step(self, states: TrainState, hparams: HyperParams, done: jax.Array):
        """One update of every run; `done` (a replicated scalar, not read from the runs' own
        states: that would be a cross-device read per update) counts the updates after it."""
        states, metrics = jax.vmap(self.functions.step)(states, hparams)
        if self.progress is not None:
            last = self.functions.config.num_updates
            report = (done % self.progress_every == 0) | (done == last)
            jax.lax.cond(report, lambda: self._report(done, metrics), lambda: None)
        return states, metrics

    def _report(self, updates_done: jax.Array, metrics: dict[str, jax.Array]) -> None:
        finished = metrics["episodes_finished"]
        return_sum = jnp.sum(jnp.where(finished > 0, metrics["episode_return"] * finished, 0.0))
        jax.debug.callback(
            self.progress, updates_done, return_sum, jnp.sum(finished), ordered=False
        )

    def updates(
        self,
        states: TrainState,
        hparams: HyperParams,
        first: jax.Array,
        length: int,
        count: jax.Array | None = None,
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        """`length` updates of every run, or only the first `count` (traced) of them, starting
        after `first` updates; metrics [R, length] (zeros past `count`)."""
        if count is None:
            states, metrics = jax.lax.scan(
                lambda s, i: self._step(s, hparams, first + i + 1),
                states,
                jnp.arange(length, dtype=jnp.int32),
            )
        else:
            shapes = jax.eval_shape(self._step, states, hparams, first)[1]
            buffer = jax.tree.map(lambda m: jnp.zeros((length, *m.shape), m.dtype), shapes)

            def body(i: jax.Array, carry: tuple[TrainState, dict[str, jax.Array]]):
                states, buffer = carry
                states, metrics = self._step(states, hparams, first + i + 1)
                return states, jax.tree.map(lambda b, m: b.at[i].set(m), buffer, metrics)

            states, metrics = jax.lax.fori_loop(0, count, body, (states, buffer))
        return states, jax.tree.map(lambda m: jnp.swapaxes(m, 0, 1), metrics)

    def fresh_runs(
        self,
        key_data: jax.Array,
        hparams: HyperParams,
        first: jax.Array,
        length: int,
        parts: int = 1,
        devices: int = 1,
    ) -> dict[str, jax.Array]:
        """R runs started from their keys [R, ...] and trained for `length` updates; metrics
        [R, length]. With `parts`, each device's runs train in `parts` groups one after another
        (less memory, the same results); part p reports progress from `first + p * length`."""
        if parts == 1:
            return self.updates(self.init(key_data), hparams, first, length)[1]

        def split(x: jax.Array) -> jax.Array:  # [R, ...] -> [parts, R / parts, ...]
            y = x.reshape(devices, parts, -1, *x.shape[1:])  # R is sharded over devices
            return jnp.swapaxes(y, 0, 1).reshape(parts, -1, *x.shape[1:])

        def merge(x: jax.Array) -> jax.Array:  # [parts, R / parts, ...] -> [R, ...]
            y = x.reshape(parts, devices, -1, *x.shape[2:])
            return jnp.swapaxes(y, 0, 1).reshape(-1, *x.shape[2:])

        def part(args):
            index, keys, values = args
            states = self.init(keys)
            return self.updates(states, values, first + index * length, length)[1]

        grouped = (jnp.arange(parts), split(key_data), jax.tree.map(split, hparams))
        return jax.tree.map(merge, jax.lax.map(part, grouped))


def segment_lengths(total: int, length: int) -> tuple[int, ...]:
    """`total` units cut into segments of `length` (the last may be shorter)."""
    length = min(length, total)
    full, rest = divmod(total, length)
    return (length,) * full + ((rest,) if rest else ())
