"""The engine for every batch of runs: plan, compile once, loop over segments, checkpoint, resume.

An entry point (train, sweep, pbt, es) describes its batch as per-run `inputs` (host arrays with a
leading runs axis R) and a `Program`:

    init(inputs) -> carry                             every leaf [R, ...]
    segment(carry, inputs, index) -> (carry, outputs) outputs = Outputs(per_unit, per_segment)
    finish(carry) -> results                          every leaf [R, ...]

`per_unit` leaves are [R, L, ...] (e.g. metrics per update; segment i keeps its first
`segment_units[i]` of L), `per_segment` leaves are [R, ...] (e.g. PBT's fitness per generation).
The engine shards the runs axis over a Mesh of every device of every process (cross-run
reductions in `segment` become XLA collectives), cuts independent runs into equal chunks sized
from XLA's memory analysis (interacting runs that allow it are computed in parts inside the
segment instead: `Program.in_parts`), compiles `init` and `segment` once, runs the segments in a
host loop (progress, checkpoints every few segments and on Ctrl-C or SIGTERM, exact resume) and
returns host arrays. Without a checkpoint directory it is the same loop, with nothing saved.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from purejaxppo.base.errors import ConfigError
from purejaxppo.engine.checkpoint import (
    NoCheckpoints,
    RunCheckpoints,
    from_host,
    host_like,
    to_host,
)
from purejaxppo.engine.devices import describe_devices, global_array, runs_sharding
from purejaxppo.engine.devices import to_host as gather
from purejaxppo.engine.interrupt import Interrupted, StopRequest
from purejaxppo.engine.memory import MEMORY_FRACTION, device_available_bytes, executable_bytes
from purejaxppo.engine.program import EngineResult, Outputs, Program

# On a CPU device, throughput falls once a chunk outgrows the caches (BENCHMARKS.md, "Scaling").
CPU_RUNS_PER_DEVICE = 32


def _num_runs(inputs: Any) -> int:
    return int(jax.tree.leaves(inputs)[0].shape[0])


def _devices_for(program: Program, num_runs: int, devices: list, limit: int) -> list:
    if program.independent:
        return devices[: max(1, min(len(devices), limit))]
    # A population is never padded: use as many devices as divide it evenly.
    count = max(d for d in range(1, len(devices) + 1) if num_runs % d == 0)
    return devices[:count]


def run(
    program: Program,
    inputs: Any,
    devices: list[jax.Device] | None = None,
    max_runs_per_chunk: int | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 1,
) -> EngineResult:
    """Run `program` on the runs of `inputs`; `checkpoint_every` is in segments."""
    num_runs = _num_runs(inputs)
    limit = min(num_runs, max_runs_per_chunk or num_runs)
    devices = _devices_for(program, num_runs, list(devices or jax.devices()), limit)
    sharding = runs_sharding(devices)
    replicated = NamedSharding(sharding.mesh, PartitionSpec())
    checkpoints = RunCheckpoints(checkpoint_dir) if checkpoint_dir else NoCheckpoints()
    progress = program.progress
    identity = {
        **program.fingerprint,
        "program": program.name,
        "segment_units": list(program.segment_units),
    }
    try:
        start = time.perf_counter()
        chunk = checkpoints.resume_layout(identity, len(devices)) or max_runs_per_chunk
        plan = _compile(program, inputs, devices, sharding, replicated, chunk)
        compile_seconds = time.perf_counter() - start
        at_once = plan.chunk // plan.parts
        checkpoints.record({**identity, "runs_per_chunk": at_once, "devices": len(devices)})
        start = time.perf_counter()
        progress.start(plan.parts)
        pieces, timed = _loop(program, inputs, plan, checkpoints, max(1, checkpoint_every))
    finally:
        progress.stop()
        checkpoints.close()
    run_seconds = time.perf_counter() - start
    merged = jax.tree.map(lambda *xs: np.concatenate(xs), *pieces)
    return EngineResult(
        results=merged["results"],
        per_unit=merged["per_unit"],
        per_segment=merged["per_segment"],
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
        devices=describe_devices(devices),
        runs_per_chunk=plan.chunk // plan.parts,
        num_chunks=math.ceil(num_runs / plan.chunk) * plan.parts,
        timed_run_units=timed,
    )


@dataclasses.dataclass(frozen=True)
class _Plan:
    chunk: int  # runs per chunk (all of them for interacting runs)
    parts: int  # groups the segment computes one after another (interacting runs only)
    init: Any
    segment: Any
    finish: Any
    abstract_carry: Any
    abstract_outputs: Outputs
    sharding: NamedSharding
    replicated: NamedSharding


def _compile(program, inputs, devices, sharding, replicated, max_runs_per_chunk) -> _Plan:
    """Compile init, segment and finish for the largest chunk (independent runs) or the fewest
    parts (interacting runs) that fit in memory; `max_runs_per_chunk` caps the runs at once."""
    num_runs = _num_runs(inputs)
    init = jax.jit(program.init, out_shardings=sharding)
    finish = jax.jit(program.finish, out_shardings=sharding)
    index = jax.ShapeDtypeStruct((), jnp.int32, sharding=replicated)
    count = len(devices)

    def compile_for(chunk: int, parts: int = 1):
        specs = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct((chunk, *x.shape[1:]), x.dtype, sharding=sharding),
            inputs,
        )
        carry = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
            jax.eval_shape(program.init, specs),
        )
        body = program.segment if parts == 1 else program.in_parts(parts, count)
        segment = jax.jit(body, out_shardings=sharding, donate_argnums=0)
        return specs, carry, segment.lower(carry, specs, index).compile()

    per_device = math.ceil(num_runs / count)
    parts = 1
    if program.independent:
        if max_runs_per_chunk is not None:
            per_device = min(per_device, max(1, max_runs_per_chunk // count))
        elif devices[0].platform == "cpu":
            per_device = min(per_device, CPU_RUNS_PER_DEVICE)
    elif max_runs_per_chunk is not None and program.in_parts is not None:
        parts = _parts_for(per_device, max(1, max_runs_per_chunk // count))
    specs, carry, compiled = compile_for(per_device * count, parts)
    needed, budget = executable_bytes(compiled), MEMORY_FRACTION * device_available_bytes(devices)
    if needed > budget and max_runs_per_chunk is None:
        # Recompile for as many runs at once as fit, at the per-run cost of the first try (an
        # upper bound).
        fitting = max(1, int(budget // (needed / per_device)))
        if program.independent:
            per_device = fitting
        elif program.in_parts is not None:
            parts = _parts_for(per_device, fitting)
        else:
            raise ConfigError(
                f"{program.name}: {num_runs} interacting runs need about {needed / 2**30:.1f} GiB "
                f"per device, more than the {budget / 2**30:.1f} GiB planned for. Fix: fewer "
                "members or seeds, or more devices."
            )
        specs, carry, compiled = compile_for(per_device * count, parts)
    return _Plan(
        chunk=per_device * count,
        parts=parts,
        init=init.lower(specs).compile(),
        segment=compiled,
        finish=finish.lower(carry).compile(),
        abstract_carry=carry,
        abstract_outputs=compiled.out_info[1],
        sharding=sharding,
        replicated=replicated,
    )


def _parts_for(per_device: int, at_once: int) -> int:
    """The fewest groups, dividing a device's runs evenly, of at most `at_once` runs each."""
    return next(
        p for p in range(1, per_device + 1) if per_device % p == 0 and per_device // p <= at_once
    )


def _buffers(plan: _Plan, program: Program, runs: int) -> dict[str, Any]:
    """Host arrays for a chunk's outputs: per_unit [runs, total units, ...], per_segment
    [runs, segments, ...]."""
    total, segments = sum(program.segment_units), len(program.segment_units)
    return {
        "per_unit": jax.tree.map(
            lambda x: np.zeros((runs, total, *x.shape[2:]), x.dtype),
            plan.abstract_outputs.per_unit,
        ),
        "per_segment": jax.tree.map(
            lambda x: np.zeros((runs, segments, *x.shape[1:]), x.dtype),
            plan.abstract_outputs.per_segment,
        ),
    }


def _loop(program, inputs, plan: _Plan, checkpoints, every: int) -> tuple[list, int]:
    """The host loop over chunks of runs and their segments; returns the chunks' host outputs and
    the runs x units computed here."""
    num_runs, chunk = _num_runs(inputs), plan.chunk
    units = program.segment_units
    offsets = np.concatenate([[0], np.cumsum(units)])
    like = {
        "chunk": np.zeros((), np.int64),
        "segment": np.zeros((), np.int64),
        "carry": host_like(plan.abstract_carry),
        **_buffers(plan, program, chunk),
    }
    saved = checkpoints.restore_latest(like)
    pieces, timed = [], 0
    with StopRequest() as stop:
        for index in range(math.ceil(num_runs / chunk)):
            first = index * chunk
            valid = min(chunk, num_runs - first)
            if checkpoints.has_chunk(index):
                empty = {"results": host_like(plan.finish.out_info), **_buffers(plan, program, 0)}
                piece_like = jax.tree.map(
                    lambda x, n=valid: np.zeros((n, *x.shape[1:]), x.dtype), empty
                )
                pieces.append(checkpoints.restore_chunk(index, piece_like))
                continue
            rows = np.minimum(np.arange(first, first + chunk), num_runs - 1)  # pad with the last
            chunk_inputs = jax.tree.map(
                lambda x, rows=rows: global_array(x[rows], plan.sharding), inputs
            )
            if saved is not None and int(saved["chunk"]) == index:
                segment = int(saved["segment"])
                placed = jax.tree.map(lambda x: global_array(x, plan.sharding), saved["carry"])
                carry = from_host(placed, plan.abstract_carry)
                buffers = {"per_unit": saved["per_unit"], "per_segment": saved["per_segment"]}
            else:
                segment, carry = 0, plan.init(chunk_inputs)
                buffers = _buffers(plan, program, chunk)
            program.progress.begin_chunk(first, valid, int(offsets[segment]))
            pending = None  # the last dispatched segment, whose outputs are not on the host yet
            while segment < len(units):
                position = global_array(np.int32(segment), plan.replicated)
                carry, outputs = plan.segment(carry, chunk_inputs, position)  # not awaited
                if pending is not None:
                    _store(buffers, pending, offsets, units)  # while this segment computes
                pending = (segment, outputs)
                segment += 1
                timed += valid * units[segment - 1]
                boundary = checkpoints.enabled and segment % every == 0 and segment < len(units)
                if stop.signum is not None or boundary:
                    _store(buffers, pending, offsets, units)
                    pending = None
                    state = {"chunk": np.int64(index), "segment": np.int64(segment)}
                    state.update(carry=to_host(carry, gather), **buffers)
                    checkpoints.save_carry(index * len(units) + segment, state)
                    if stop.signum is not None:
                        raise Interrupted(stop.signum)
            if pending is not None:
                _store(buffers, pending, offsets, units)
            results = to_host(plan.finish(carry), gather)
            piece = jax.tree.map(lambda x, n=valid: x[:n], {"results": results, **buffers})
            checkpoints.save_chunk(index, piece)
            pieces.append(piece)
    return pieces, timed


def _store(buffers: dict[str, Any], pending: tuple[int, Outputs], offsets, units) -> None:
    """Copy one segment's outputs into the chunk's host buffers."""
    segment, outputs = pending
    first, count = int(offsets[segment]), units[segment]

    def per_unit(buffer: np.ndarray, value: jax.Array) -> None:
        buffer[:, first : first + count] = gather(value)[:, :count]

    def per_segment(buffer: np.ndarray, value: jax.Array) -> None:
        buffer[:, segment] = gather(value)

    jax.tree.map(per_unit, buffers["per_unit"], outputs.per_unit)
    jax.tree.map(per_segment, buffers["per_segment"], outputs.per_segment)
