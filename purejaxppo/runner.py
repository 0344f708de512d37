"""Many runs in one compiled function: seeds x hyperparameter settings, sharded and chunked.

Every run is one call of the core `train(key, hparams)`; the runs axis is vmapped, sharded over
the devices (all devices of all processes after `jax.distributed.initialize()`), and cut into
chunks that fit in memory. Every chunk has the same shape, so there is one compile.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from purejaxppo.config import TRACED_FIELDS, ConfigError, HyperParams, PPOConfig
from purejaxppo.devices import describe_devices
from purejaxppo.memory import MEMORY_FRACTION, device_available_bytes, executable_bytes
from purejaxppo.stats import Interval, final_returns, mean_interval
from purejaxppo.trainer import METRIC_NAMES, make_train

RUNS_AXIS = "runs"


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

    @property
    def num_runs(self) -> int:
        return int(self.seed.shape[0])

    @property
    def env_steps(self) -> int:
        """Environment steps taken by all runs together."""
        return self.num_runs * self.config.env_steps

    @property
    def steps_per_second(self) -> float:
        return self.env_steps / self.run_seconds

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


def train(
    config: PPOConfig,
    num_seeds: int = 1,
    key: jax.Array | int = 0,
    hparams: HyperParams | None = None,
    devices: list[jax.Device] | None = None,
    max_runs_per_chunk: int | None = None,
) -> RunResult:
    """Train `num_seeds` seeds of each hyperparameter setting of `config` in one compile.

    `hparams`: None (the config's own values), one `HyperParams` of scalars, or one whose leaves
    are vectors of length S (S settings, e.g. `HyperParams.stack`); runs = S * num_seeds. Seed j
    uses `jax.random.split(key, num_seeds)[j]` for every setting, so results do not depend on
    how the runs are sharded or chunked.

    `devices` defaults to every device of every process. Runs are processed in chunks sized from
    the compiled executable's memory analysis and the devices' free memory (at most half of it);
    `max_runs_per_chunk` overrides that.
    """
    if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 1:
        raise ConfigError(
            f"num_seeds={num_seeds!r}: must be a positive integer. Fix: num_seeds=64."
        )
    if max_runs_per_chunk is not None and (
        isinstance(max_runs_per_chunk, bool)
        or not isinstance(max_runs_per_chunk, int)
        or max_runs_per_chunk < 1
    ):
        raise ConfigError(
            f"max_runs_per_chunk={max_runs_per_chunk!r}: must be a positive integer or None. "
            "Fix: leave it None to size chunks from memory, or pass e.g. 256."
        )
    key = jax.random.key(key) if isinstance(key, int) else key
    settings = _settings(config, hparams)
    num_settings = settings.learning_rate.shape[0]
    num_runs = num_settings * num_seeds

    seed_index = np.tile(np.arange(num_seeds), num_settings)
    setting_index = np.repeat(np.arange(num_settings), num_seeds)
    seed_keys = np.asarray(jax.random.key_data(jax.random.split(key, num_seeds)))
    run_keys = seed_keys[seed_index]
    run_hparams = jax.tree.map(lambda leaf: leaf[setting_index], settings)

    devices = list(jax.devices() if devices is None else devices)
    limit = num_runs if max_runs_per_chunk is None else min(num_runs, max_runs_per_chunk)
    devices = devices[: max(1, min(len(devices), limit))]
    sharding = NamedSharding(Mesh(np.array(devices), (RUNS_AXIS,)), PartitionSpec(RUNS_AXIS))

    core = make_train(config)
    batched = jax.jit(
        jax.vmap(lambda key_data, hp: core(jax.random.wrap_key_data(key_data), hp)),
        out_shardings=sharding,
    )

    def compile_for(chunk: int):
        key_shape = (chunk, *run_keys.shape[1:])
        key_spec = jax.ShapeDtypeStruct(key_shape, run_keys.dtype, sharding=sharding)
        hp_spec = jax.tree.map(
            lambda leaf: jax.ShapeDtypeStruct((chunk,), leaf.dtype, sharding=sharding), run_hparams
        )
        return batched.lower(key_spec, hp_spec).compile()

    start = time.perf_counter()
    runs_per_device = math.ceil(num_runs / len(devices))
    if max_runs_per_chunk is not None:
        runs_per_device = min(runs_per_device, max(1, max_runs_per_chunk // len(devices)))
        compiled = None
    else:
        # Probe: one run per device, then fill a share of the free memory with runs.
        compiled = compile_for(len(devices))
        per_run = executable_bytes(compiled)
        budget = MEMORY_FRACTION * device_available_bytes(devices)
        runs_per_device = max(1, min(runs_per_device, int(budget // per_run)))
    chunk = runs_per_device * len(devices)
    if compiled is None or chunk != len(devices):
        compiled = compile_for(chunk)
    compile_seconds = time.perf_counter() - start

    start = time.perf_counter()
    pieces = []
    for first in range(0, num_runs, chunk):
        # The last chunk is padded with copies of the last run (same shape, same executable).
        index = np.minimum(np.arange(first, first + chunk), num_runs - 1)
        out = compiled(
            _global_array(run_keys[index], sharding),
            jax.tree.map(lambda leaf, i=index: _global_array(leaf[i], sharding), run_hparams),
        )
        valid = min(chunk, num_runs - first)
        pieces.append(jax.tree.map(lambda x, n=valid: _to_host(x)[:n], out))
    run_seconds = time.perf_counter() - start
    result = jax.tree.map(lambda *xs: np.concatenate(xs), *pieces)

    return RunResult(
        config=config,
        metrics={name: result.metrics[name] for name in METRIC_NAMES},  # pytrees sort dict keys
        params=result.params,
        obs_stats=result.obs_stats,
        hparams=run_hparams,
        setting=setting_index,
        seed=seed_index,
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
        devices=describe_devices(devices),
        runs_per_chunk=chunk,
        num_chunks=len(pieces),
    )
