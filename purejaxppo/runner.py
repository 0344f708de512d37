"""Run many seeds of one config in one compiled call, the runs axis sharded over local devices."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from purejaxppo.config import ConfigError, HyperParams, PPOConfig
from purejaxppo.devices import describe_devices
from purejaxppo.stats import Interval, final_returns, mean_interval
from purejaxppo.trainer import METRIC_NAMES, make_train

RUNS_AXIS = "runs"


@dataclasses.dataclass(frozen=True)
class RunResult:
    """Results of `num_runs` runs as NumPy arrays, with the numbers a user asks first."""

    config: PPOConfig
    metrics: dict[str, np.ndarray]  # each [runs, updates]
    params: Any  # pytree, leaves [runs, ...]
    obs_stats: Any  # RunningMeanStd, leaves [runs, ...]
    compile_seconds: float
    run_seconds: float
    devices: tuple[str, ...]

    @property
    def num_runs(self) -> int:
        return int(self.metrics["env_steps"].shape[0])

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
        }


def train(
    config: PPOConfig,
    num_seeds: int = 1,
    key: jax.Array | int = 0,
    hparams: HyperParams | None = None,
    devices: list[jax.Device] | None = None,
) -> RunResult:
    """Train `num_seeds` independent runs of `config` in one compiled, vmapped call.

    Run i uses `jax.random.split(key, num_seeds)[i]`, so results do not depend on how many devices
    share the work. The runs axis is sharded over `devices` (default: all local devices); when
    num_seeds is not a multiple of their number, the last device computes a few padding runs that
    are dropped.
    """
    if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 1:
        raise ConfigError(
            f"num_seeds={num_seeds!r}: must be a positive integer. Fix: num_seeds=64."
        )
    if isinstance(key, int):
        key = jax.random.key(key)
    hparams = config.hparams if hparams is None else hparams
    devices = list(jax.local_devices() if devices is None else devices)
    devices = devices[: min(len(devices), num_seeds)]
    padded = -(-num_seeds // len(devices)) * len(devices)

    keys = jax.random.split(key, num_seeds)
    if padded > num_seeds:
        keys = jax.numpy.concatenate([keys, keys[: padded - num_seeds]])
    sharding = NamedSharding(Mesh(np.array(devices), (RUNS_AXIS,)), PartitionSpec(RUNS_AXIS))
    keys = jax.device_put(keys, sharding)

    train_runs = jax.jit(jax.vmap(make_train(config), in_axes=(0, None)), out_shardings=sharding)
    start = time.perf_counter()
    compiled = train_runs.lower(keys, hparams).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    result = jax.block_until_ready(compiled(keys, hparams))
    run_seconds = time.perf_counter() - start

    result = jax.tree.map(lambda x: np.asarray(x)[:num_seeds], result)
    return RunResult(
        config=config,
        metrics={name: result.metrics[name] for name in METRIC_NAMES},  # pytrees sort dict keys
        params=result.params,
        obs_stats=result.obs_stats,
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
        devices=describe_devices(devices),
    )
