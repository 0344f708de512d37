"""Many runs in one compiled function: seeds x hyperparameter settings, sharded and chunked.

Every run is the core's init and update step; the runs axis is vmapped, sharded over the devices
(all devices of all processes after `jax.distributed.initialize()`), and cut into chunks that fit
in memory. Every chunk has the same shape, so there is one compile. With checkpoints, the updates
run as a host loop over compiled segments whose carry orbax saves.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from purejaxppo.checkpoint import (
    NoCheckpoints,
    RunCheckpoints,
    abstract_host_state,
    state_from_host,
    state_to_host,
)
from purejaxppo.config import TRACED_FIELDS, ConfigError, HyperParams, PPOConfig
from purejaxppo.devices import describe_devices
from purejaxppo.loop import DEFAULT_PROGRESS_EVERY, make_batched_training
from purejaxppo.memory import MEMORY_FRACTION, device_available_bytes, executable_bytes
from purejaxppo.progress import TrainingProgress
from purejaxppo.stats import Interval, final_returns, mean_interval
from purejaxppo.trainer import METRIC_NAMES

RUNS_AXIS = "runs"
# On a CPU device, throughput falls once a chunk outgrows the caches: 51,200-step CartPole runs on
# a 2-core EPYC went 625k env steps/s at 32 runs per device, 523k at 128, 441k at 512 and 357k
# at 2048 (benchmarks/scaling.py). Chunks of at most this many runs per CPU device avoid that.
CPU_RUNS_PER_DEVICE = 32


@dataclasses.dataclass(frozen=True)
class RunResult:
    """Results of all runs as NumPy arrays (leading axis: runs), with the numbers users ask first.

    Runs are ordered setting-major: run i trained hyperparameter setting `setting[i]` with seed
    `seed[i]`; every setting used the same seeds.
    """

    config: PPOConfig
    metrics: dict[str, np.ndarray]  # each [runs, updates]
    params: Any  # pytree, leaves [runs, ...]
    obs_stats: Any  # RunningMeanStd, leaves [runs, ...]
    hparams: HyperParams  # leaves [runs]
    setting: np.ndarray  # [runs] int
    seed: np.ndarray  # [runs] int
    compile_seconds: float
    run_seconds: float
    devices: tuple[str, ...]
    runs_per_chunk: int
    num_chunks: int
    timed_env_steps: int  # env steps run within run_seconds (fewer than env_steps after a resume)

    @property
    def num_runs(self) -> int:
        return int(self.seed.shape[0])

    @property
    def env_steps(self) -> int:
        """Environment steps taken by all runs together."""
        return self.num_runs * self.config.env_steps

    @property
    def steps_per_second(self) -> float:
        return self.timed_env_steps / self.run_seconds

    @property
    def final_returns(self) -> np.ndarray:
        """[runs] mean return of the episodes finished in each run's last 5% of updates."""
        return final_returns(self.metrics["episode_return"], self.metrics["episodes_finished"])

    @property
    def final_return(self) -> Interval:
        return mean_interval(self.final_returns)

    def summary(self) -> dict[str, Any]:
        interval = self.final_return
        return {
            "env_id": self.config.env_id,
            "num_runs": self.num_runs,
            "final_return_mean": interval.mean,
            "final_return_ci95": [interval.low, interval.high],
            "env_steps": self.env_steps,
            "compile_seconds": self.compile_seconds,
            "run_seconds": self.run_seconds,
            "steps_per_second": self.steps_per_second,
            "devices": list(self.devices),
            "runs_per_chunk": self.runs_per_chunk,
            "num_chunks": self.num_chunks,
        }


def _settings(config: PPOConfig, hparams: HyperParams | None) -> HyperParams:
    """`hparams` as float32 NumPy leaves with one leading settings axis [S]."""
    hparams = config.hparams if hparams is None else hparams
    leaves = {name: np.asarray(getattr(hparams, name), np.float32) for name in TRACED_FIELDS}
    shapes = {leaf.shape for leaf in leaves.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) > 1:
        raise ConfigError(
            f"hparams: leaves have shapes {sorted(shapes)}. Fix: pass scalars (one setting) or "
            "vectors of one common length S (S settings), e.g. via HyperParams.stack."
        )
    return HyperParams(**{name: np.atleast_1d(leaf) for name, leaf in leaves.items()})


def _global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A sharded global array from a host array that every process holds in full."""
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _to_host(x: jax.Array) -> np.ndarray:
    if jax.process_count() > 1:
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


DEFAULT_SEGMENT_UPDATES = 100


@dataclasses.dataclass(frozen=True)
class _Plan:
    """The runs, on the host: keys and hyperparameters per run, and where they run."""

    config: PPOConfig
    run_keys: np.ndarray  # [R, 2] uint32 key data
    run_hparams: HyperParams  # leaves [R]
    setting: np.ndarray
    seed: np.ndarray
    devices: list[jax.Device]
    sharding: NamedSharding

    @property
    def num_runs(self) -> int:
        return int(self.seed.shape[0])

    def specs(self, chunk: int):
        """Abstract (key data, hparams) arguments for a chunk of `chunk` runs."""
        key_spec = jax.ShapeDtypeStruct(
            (chunk, *self.run_keys.shape[1:]), self.run_keys.dtype, sharding=self.sharding
        )
        hp_spec = jax.tree.map(
            lambda leaf: jax.ShapeDtypeStruct((chunk,), leaf.dtype, sharding=self.sharding),
            self.run_hparams,
        )
        return key_spec, hp_spec

    def chunk_inputs(self, first: int, chunk: int):
        """Sharded (key data, hparams) of runs first..first+chunk; the last run pads the end."""
        index = np.minimum(np.arange(first, first + chunk), self.num_runs - 1)
        keys = _global_array(self.run_keys[index], self.sharding)
        hparams = jax.tree.map(
            lambda leaf: _global_array(leaf[index], self.sharding), self.run_hparams
        )
        return keys, hparams


def _positive_or_none(name: str, value: object, example: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{name}={value!r}: must be a positive integer or None. Fix: {example}.")


def _plan(config, num_seeds, key, hparams, devices, max_runs_per_chunk) -> _Plan:
    if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 1:
        raise ConfigError(
            f"num_seeds={num_seeds!r}: must be a positive integer. Fix: num_seeds=64."
        )
    key = jax.random.key(key) if isinstance(key, int) else key
    settings = _settings(config, hparams)
    num_settings = settings.learning_rate.shape[0]
    num_runs = num_settings * num_seeds
    seed_index = np.tile(np.arange(num_seeds), num_settings)
    setting_index = np.repeat(np.arange(num_settings), num_seeds)
    seed_keys = np.asarray(jax.random.key_data(jax.random.split(key, num_seeds)))
    devices = list(jax.devices() if devices is None else devices)
    limit = num_runs if max_runs_per_chunk is None else min(num_runs, max_runs_per_chunk)
    devices = devices[: max(1, min(len(devices), limit))]
    return _Plan(
        config=config,
        run_keys=seed_keys[seed_index],
        run_hparams=jax.tree.map(lambda leaf: leaf[setting_index], settings),
        setting=setting_index,
        seed=seed_index,
        devices=devices,
        sharding=NamedSharding(Mesh(np.array(devices), (RUNS_AXIS,)), PartitionSpec(RUNS_AXIS)),
    )


def _choose_chunk(plan: _Plan, compile_for, max_runs_per_chunk: int | None):
    """(runs per chunk, its compiled executable): all runs if they fit, else as many as fit."""
    devices = len(plan.devices)
    runs_per_device = math.ceil(plan.num_runs / devices)
    if max_runs_per_chunk is not None:
        runs_per_device = min(runs_per_device, max(1, max_runs_per_chunk // devices))
        return runs_per_device * devices, compile_for(runs_per_device * devices)
    if plan.devices[0].platform == "cpu":
        runs_per_device = min(runs_per_device, CPU_RUNS_PER_DEVICE)
    # If XLA's estimate for the whole chunk exceeds the memory budget, recompile for as many runs
    # as fit, at the per-run cost of the first attempt (an upper bound).
    compiled = compile_for(runs_per_device * devices)
    needed = executable_bytes(compiled)
    budget = MEMORY_FRACTION * device_available_bytes(plan.devices)
    if needed > budget:
        runs_per_device = max(1, int(budget // (needed / runs_per_device)))
        compiled = compile_for(runs_per_device * devices)
    return runs_per_device * devices, compiled


def _results(states, metrics) -> dict[str, Any]:
    """What a chunk of runs returns: params, observation statistics and metrics."""
    return {"params": states.params, "obs_stats": states.env_loop.obs_stats, "metrics": metrics}


def train(
    config: PPOConfig,
    num_seeds: int = 1,
    key: jax.Array | int = 0,
    hparams: HyperParams | None = None,
    devices: list[jax.Device] | None = None,
    max_runs_per_chunk: int | None = None,
    progress: bool | TrainingProgress = False,
    checkpoint_dir: str | Path | None = None,
    segment_updates: int | None = None,
    checkpoint_every: int | None = None,
    progress_every: int = DEFAULT_PROGRESS_EVERY,
) -> RunResult:
    """Train `num_seeds` seeds of each hyperparameter setting of `config` in one compile.

    `hparams`: None (the config's own values), one `HyperParams` of scalars, or one whose leaves
    are vectors of length S (S settings, e.g. `HyperParams.stack`); runs = S * num_seeds. Seed j
    uses `jax.random.split(key, num_seeds)[j]` for every setting, so results do not depend on
    how the runs are sharded or chunked.

    `devices` defaults to every device of every process. Runs are processed in chunks sized from
    the compiled executable's memory analysis and the devices' free memory (at most half of it),
    and on CPU devices of at most CPU_RUNS_PER_DEVICE runs each (faster);
    `max_runs_per_chunk` overrides both.

    `progress`: show a live progress bar, fed by one host call every `progress_every` updates
    for all runs of a chunk together.
    `checkpoint_dir`: run the updates as a host loop over compiled segments of `segment_updates`
    (default 100) and save the loop's carry there with orbax every `checkpoint_every` updates
    (default: every segment) and on Ctrl-C. If the directory already holds a checkpoint of the
    same runs, training continues from it and ends bit-identical to an uninterrupted run.
    """
    _positive_or_none("max_runs_per_chunk", max_runs_per_chunk, "leave it None, or e.g. 256")
    _positive_or_none("segment_updates", segment_updates, "leave it None, or e.g. 100")
    _positive_or_none("checkpoint_every", checkpoint_every, "leave it None, or e.g. 500")
    _positive_or_none("progress_every", progress_every, "e.g. 10")
    plan = _plan(config, num_seeds, key, hparams, devices, max_runs_per_chunk)
    if isinstance(progress, TrainingProgress):
        tracker = progress
    else:
        tracker = TrainingProgress(
            plan.num_runs * config.env_steps, config.env_id, enabled=bool(progress)
        )
    # No callback at all in the compiled loop unless progress is wanted.
    training = make_batched_training(config, tracker if progress else None, progress_every)
    segmented = checkpoint_dir is not None or segment_updates is not None
    segment = min(segment_updates or DEFAULT_SEGMENT_UPDATES, config.num_updates)

    start = time.perf_counter()
    if segmented:
        init = jax.jit(training.init, out_shardings=plan.sharding)
        advance = jax.jit(training.advance, static_argnums=2, out_shardings=plan.sharding)

        def compile_for(chunk: int):
            keys, hps = plan.specs(chunk)
            return advance.lower(jax.eval_shape(init, keys, hps), hps, segment).compile()
    else:

        def full(key_data, hps):
            states, metrics = training.advance(
                training.init(key_data, hps), hps, config.num_updates
            )
            return _results(states, metrics)

        full_jit = jax.jit(full, out_shardings=plan.sharding)

        def compile_for(chunk: int):
            return full_jit.lower(*plan.specs(chunk)).compile()

    chunk, compiled = _choose_chunk(plan, compile_for, max_runs_per_chunk)
    if segmented:
        # Everything the host loop needs is compiled here, outside the timed run.
        keys, hps = plan.specs(chunk)
        abstract_states, abstract_metrics = compiled.out_info
        remainder = config.num_updates % segment
        segments = _Segments(
            init=init.lower(keys, hps).compile(),
            full=compiled,
            tail=advance.lower(abstract_states, hps, remainder).compile() if remainder else None,
            length=segment,
            abstract_states=abstract_states,
            abstract_metrics=abstract_metrics,
        )
    compile_seconds = time.perf_counter() - start

    num_chunks = math.ceil(plan.num_runs / chunk)
    start = time.perf_counter()
    if segmented:
        checkpoints = RunCheckpoints(checkpoint_dir) if checkpoint_dir else NoCheckpoints()
        try:
            pieces, timed_steps = _run_segmented(
                plan, chunk, num_chunks, segments, checkpoint_every, checkpoints, tracker
            )
        finally:
            checkpoints.close()
            tracker.stop()
    else:
        pieces = []
        tracker.start()
        try:
            for index in range(num_chunks):
                first = index * chunk
                valid = min(chunk, plan.num_runs - first)
                tracker.begin_chunk(first * config.env_steps, valid * config.batch_size)
                out = compiled(*plan.chunk_inputs(first, chunk))
                pieces.append(jax.tree.map(lambda x, n=valid: _to_host(x)[:n], out))
        finally:
            tracker.stop()
        timed_steps = plan.num_runs * config.env_steps
    run_seconds = time.perf_counter() - start
    result = jax.tree.map(lambda *xs: np.concatenate(xs), *pieces)

    return RunResult(
        config=config,
        metrics={name: result["metrics"][name] for name in METRIC_NAMES},
        params=result["params"],
        obs_stats=result["obs_stats"],
        hparams=plan.run_hparams,
        setting=plan.setting,
        seed=plan.seed,
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
        devices=describe_devices(plan.devices),
        runs_per_chunk=chunk,
        num_chunks=num_chunks,
        timed_env_steps=timed_steps,
    )


@dataclasses.dataclass(frozen=True)
class _Segments:
    """The compiled pieces of the segmented loop, for one chunk shape."""

    init: Any  # compiled init(key_data, hparams) -> states
    full: Any  # compiled advance(states, hparams) over `length` updates
    tail: Any  # compiled advance over num_updates % length updates, or None
    length: int
    abstract_states: Any
    abstract_metrics: dict[str, Any]


def _run_segmented(
    plan: _Plan, chunk: int, num_chunks: int, segments: _Segments, checkpoint_every: int | None,
    checkpoints: RunCheckpoints | NoCheckpoints, tracker: TrainingProgress,
):  # fmt: skip
    """The host loop over chunks of runs and segments of updates, with checkpoints."""
    segment, abstract_states = segments.length, segments.abstract_states
    config = plan.config
    num_updates = config.num_updates
    every = max(segment, checkpoint_every or segment)
    checkpoints.check_fingerprint(
        {
            "config": config.to_dict(),
            "run_keys": plan.run_keys.tolist(),
            "run_hparams": {k: v.tolist() for k, v in dataclasses.asdict(plan.run_hparams).items()},
            "runs_per_chunk": chunk,
            "segment_updates": segment,
            "devices": len(plan.devices),
        }
    )
    metrics_like = {
        k: np.zeros((chunk, num_updates), v.dtype) for k, v in segments.abstract_metrics.items()
    }
    carry_like = {
        "chunk": np.zeros((), np.int64),
        "update": np.zeros((), np.int64),
        "states": abstract_host_state(abstract_states),
        "metrics": metrics_like,
    }
    resume_step = checkpoints.latest_step()
    carry = checkpoints.restore_carry(resume_step, carry_like) if resume_step is not None else None

    stop = _StopRequest()
    pieces, timed_steps = [], 0
    tracker.start()
    with stop:
        for index in range(num_chunks):
            first = index * chunk
            valid = min(chunk, plan.num_runs - first)
            if checkpoints.has_chunk(index):
                like = _chunk_like(abstract_states, metrics_like, valid)
                pieces.append(checkpoints.restore_chunk(index, like))
                continue
            key_data, hparams = plan.chunk_inputs(first, chunk)
            if carry is not None and int(carry["chunk"]) == index:
                update = int(carry["update"])
                states = jax.device_put(state_from_host(carry["states"]), plan.sharding)
                metrics = carry["metrics"]
            else:
                update, states = 0, segments.init(key_data, hparams)
                metrics = {k: np.zeros_like(v) for k, v in metrics_like.items()}
            tracker.begin_chunk(first * config.env_steps, valid * config.batch_size, update)
            pending = None  # the last dispatched segment, whose metrics are not on the host yet
            while update < num_updates:
                length = min(segment, num_updates - update)
                executable = segments.full if length == segment else segments.tail
                states, segment_metrics = executable(states, hparams)  # dispatched, not awaited
                if pending is not None:
                    _write_metrics(metrics, pending)  # while this segment computes
                pending = (update, length, segment_metrics)
                update += length
                timed_steps += valid * length * config.batch_size
                if stop.requested or (
                    checkpoints.enabled and update % every == 0 and update < num_updates
                ):
                    _write_metrics(metrics, pending)
                    pending = None
                    _save_carry(checkpoints, index, update, num_updates, states, metrics)
                    if stop.requested:
                        raise KeyboardInterrupt
            if pending is not None:
                _write_metrics(metrics, pending)
            piece = jax.tree.map(lambda x, n=valid: _to_host(x)[:n], _results(states, metrics))
            checkpoints.save_chunk(index, piece)
            pieces.append(piece)
    return pieces, timed_steps


def _write_metrics(metrics: dict[str, np.ndarray], pending) -> None:
    """Copy a finished segment's metrics [R, length] into the chunk's [R, num_updates] arrays."""
    first_update, length, values = pending
    for name, value in values.items():
        metrics[name][:, first_update : first_update + length] = _to_host(value)


class _StopRequest:
    """While active, Ctrl-C only asks the loop to stop at the next segment boundary, so that the
    checkpoint it saves is consistent; a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _save_carry(checkpoints, index, update, num_updates, states, metrics) -> None:
    carry = {
        "chunk": np.asarray(index, np.int64),
        "update": np.asarray(update, np.int64),
        "states": state_to_host(states),
        "metrics": metrics,
    }
    checkpoints.save_carry(index * num_updates + update, carry)


def _chunk_like(abstract_states, metrics_like, valid: int) -> dict[str, Any]:
    out = _results(abstract_host_state(abstract_states), metrics_like)
    return jax.tree.map(lambda x: np.zeros((valid, *x.shape[1:]), x.dtype), out)
