"""Speed choices that depend on the backend, not on what is learned.

Each choice below gives the same training (the same maths, up to float rounding); which one is
faster depends on the device, so `Tuning.for_backend` picks by measurement. The numbers behind
each choice are in docs/benchmark-notes.md ("Where the time goes").
"""

from __future__ import annotations

import dataclasses

import jax


@dataclasses.dataclass(frozen=True)
class Tuning:
    """gae_unroll: iterations of the GAE scan per loop step. flat_optimizer: run gradient
    clipping and Adam on the parameters raveled into one vector (a few kernels per minibatch
    instead of a few per parameter leaf, at the price of copying the parameters out of the vector
    and the gradients into it). unrolled_prng: draw random numbers with `prng.UNROLLED` keys
    (the same bits as jax's default keys; its hash one fused kernel instead of the loop jax
    emits on XLA:CPU)."""

    gae_unroll: int = 1
    flat_optimizer: bool = True
    unrolled_prng: bool = True

    @staticmethod
    def for_backend(backend: str | None = None) -> Tuning:
        """XLA:CPU: a rolled GAE loop, the flat optimizer (unrolling was slower there; the
        flat optimizer wins at one seed and loses a little at many) and unrolled threefry keys
        (faster at one seed, equal at many, compiles faster; docs/benchmark-notes.md has each).
        Accelerators: GAE unrolled by 16, so that XLA can fuse 16 steps of the recursion into
        one kernel instead of launching a few per step, and the per-leaf optimizer, which avoids
        copying all parameters and gradients of thousands of runs at every minibatch step (both
        chosen by analysis and not yet measured on a GPU: benchmarks/gpu_check.sh compares);
        jax's own threefry keys, whose hash jax already emits unrolled there."""
        backend = backend or jax.default_backend()
        if backend == "cpu":
            return Tuning(gae_unroll=1, flat_optimizer=True, unrolled_prng=True)
        return Tuning(gae_unroll=16, flat_optimizer=False, unrolled_prng=False)
