"""What the engine runs: a `Program` (a batch of runs described by its functions), the
`Outputs` of one segment, and the `EngineResult` it hands back (see `engine`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
from flax import struct

from purejaxppo.engine.progress import Progress


@struct.dataclass
class Outputs:
    per_unit: Any  # leaves [R, L, ...]
    per_segment: Any  # leaves [R, ...]


@dataclasses.dataclass(frozen=True)
class Program:
    """A batch of runs as the engine runs it (see the module docstring)."""

    name: str
    init: Callable[[Any], Any]
    segment: Callable[[Any, Any, jax.Array], tuple[Any, Outputs]]
    finish: Callable[[Any], Any]
    segment_units: tuple[int, ...]  # valid units of each segment's per_unit outputs
    independent: bool  # runs do not interact, so the batch may be cut into chunks
    fingerprint: dict[str, Any]  # JSON data that identifies the runs (for resume)
    progress: Progress = dataclasses.field(default_factory=Progress)
    # Interacting runs that may still be computed in parts: `in_parts(parts, devices)` is a
    # segment that runs each device's runs in `parts` groups one after another (same results);
    # the engine uses it when all runs at once do not fit in memory.
    in_parts: Callable[[int, int], Callable] | None = None


@dataclasses.dataclass(frozen=True)
class EngineResult:
    results: Any  # host leaves [R, ...]
    per_unit: Any  # host leaves [R, sum(segment_units), ...]
    per_segment: Any  # host leaves [R, num_segments, ...]
    compile_seconds: float
    run_seconds: float
    devices: tuple[str, ...]
    runs_per_chunk: int
    num_chunks: int
    timed_run_units: int  # runs x units computed in this call (fewer after a resume)
