"""`train`: many independent runs (seeds x hyperparameter settings) through the engine.

Run i trains setting `setting[i]` with seed `seed[i]`; every setting uses the same seeds (key
`jax.random.split(key, num_seeds)[seed]`), so results do not depend on how the runs are sharded
or cut into chunks.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.base import prng
from purejaxppo.base.errors import ConfigError
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.hparams import HyperParams, check_values
from purejaxppo.core.trainer import AGENT_RETURN, TrainState, ordered_metrics
from purejaxppo.engine import runner
from purejaxppo.engine.batched import DEFAULT_PROGRESS_EVERY, BatchedTraining
from purejaxppo.engine.progress import TrainingProgress
from purejaxppo.search import scores
from purejaxppo.search.batch import build
from purejaxppo.search.checks import check_train_arguments
from purejaxppo.search.stats import Interval, mean_interval


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
        return self.timed_env_steps / self.run_seconds if self.run_seconds > 0 else 0.0

    @property
    def first_nonfinite_update(self) -> np.ndarray:
        """[runs] the first update whose losses, gradients or parameters were not finite; -1 for
        a run that never diverged."""
        return np.asarray(scores.diverged_at(self.metrics["nonfinite"]))

    @property
    def final_returns(self) -> np.ndarray:
        """[runs] mean return of the episodes finished in each run's last 5% of updates; NaN for
        a run that finished none there or that diverged (never counted as a number)."""
        return np.asarray(scores.final_return(self.metrics), np.float64)

    @property
    def final_return(self) -> Interval:
        """Mean over the runs that finished an episode in their final window and did not
        diverge, with its 95% interval (`Interval.num_runs` says how many that is)."""
        return mean_interval(self.final_returns)

    @property
    def final_win_rate(self) -> Interval | None:
        """SMAX's: the share of the episodes won in each run's last 5% of updates, as
        `final_return` (None where the env does not say which episodes are won)."""
        rates = np.asarray(scores.windowed_mean(self.metrics, "win_rate"), np.float64)
        return mean_interval(rates) if np.isfinite(rates).any() else None

    @property
    def final_agent_returns(self) -> list[float] | None:
        """A multi-agent env's: each agent's own final return, the mean over runs (None for a
        single-agent env)."""
        names = [name for name in self.metrics if name.startswith(AGENT_RETURN)]
        if not names:
            return None
        finals = [np.asarray(scores.windowed_mean(self.metrics, n), np.float64) for n in names]
        return [float(np.nanmean(f)) if np.isfinite(f).any() else float("nan") for f in finals]

    def summary(self) -> dict[str, Any]:
        interval = self.final_return
        first = self.first_nonfinite_update
        diverged = first >= 0
        return {
            "env_id": self.config.env_id,
            "num_runs": self.num_runs,
            "final_return_mean": interval.mean,
            "final_return_ci95": [interval.low, interval.high],
            "runs_without_final_episode": int(np.sum(~np.isfinite(self.final_returns) & ~diverged)),
            "diverged_runs": int(diverged.sum()),
            "first_nonfinite_update": int(first[diverged].min()) if diverged.any() else None,
            "env_steps": self.env_steps,
            "compile_seconds": self.compile_seconds,
            "run_seconds": self.run_seconds,
            "steps_per_second": self.steps_per_second,
            "devices": list(self.devices),
            "runs_per_chunk": self.runs_per_chunk,
            "num_chunks": self.num_chunks,
            **self._multi_agent_summary(),
        }

    def _multi_agent_summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if (rate := self.final_win_rate) is not None:
            out |= {"final_win_rate_mean": rate.mean, "final_win_rate_ci95": [rate.low, rate.high]}
        if (agents := self.final_agent_returns) is not None:
            out["final_agent_return_means"] = agents
        return out


def settings_of(config: PPOConfig, hparams: HyperParams | None) -> HyperParams:
    """`hparams` as float32 NumPy leaves with one leading settings axis [S]; its schedules and
    drift must be those the config uses (present or not, and of the same shapes)."""
    defaults = config.hparams
    hparams = defaults if hparams is None else hparams
    check_values(hparams)
    leaves = {name: np.asarray(getattr(hparams, name), np.float32) for name in HyperParams.names()}
    shapes = {leaf.shape for leaf in leaves.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) > 1:
        raise ConfigError(
            f"hparams: leaves have shapes {sorted(shapes)}. Fix: pass scalars (one setting) or "
            "vectors of one common length S (S settings), e.g. via HyperParams.stack."
        )
    batched = len(next(iter(shapes))) == 1
    optional = {}
    for name in (*HyperParams.schedule_names(), "drift"):
        given, expected = getattr(hparams, name), getattr(defaults, name)
        if jax.tree.map(lambda x: np.shape(x)[batched:], given) != jax.tree.map(np.shape, expected):
            raise ConfigError(
                f"hparams.{name} does not match the config's (which is "
                f"{'unset' if expected is None else 'set'}). Fix: build hparams from this config "
                "(config.hparams, or HyperParams.stack of configs made with config.replace)."
            )
        optional[name] = jax.tree.map(
            lambda x: np.asarray(x, np.float32)[None] if not batched else np.asarray(x, np.float32),
            given,
        )
    return HyperParams(**{name: np.atleast_1d(leaf) for name, leaf in leaves.items()}, **optional)


def _segment(
    states: TrainState,
    inputs: dict[str, Any],
    index: jax.Array,
    training: BatchedTraining,
    units: tuple[int, ...],
) -> tuple[TrainState, runner.Outputs]:
    """`units[index]` updates of every run (a traced count only when segments differ), with the
    metrics of every update."""
    count = jnp.asarray(units, jnp.int32)[index] if len(set(units)) > 1 else None
    first = jnp.asarray(np.cumsum((0, *units[:-1])), jnp.int32)[index]
    states, metrics = training.updates(states, inputs["hparams"], first, max(units), count)
    return states, runner.Outputs(per_unit=metrics, per_segment={})


def _finish(states: TrainState) -> dict[str, Any]:
    return {"params": states.params, "obs_stats": states.env_loop.obs_stats}


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
    env: Any = None,
    env_params: Any = None,
    network: Any = None,
    objective: Any = None,
    randomize: Any = None,
) -> RunResult:
    """Train `num_seeds` seeds of each hyperparameter setting of `config` in one compile.

    `hparams`: None (the config's own values), one `HyperParams` of scalars, or one whose leaves
    are vectors of length S (S settings, e.g. `HyperParams.stack`); runs = S * num_seeds.
    `devices` defaults to every device of every process. Runs are processed in chunks sized from
    the compiled executable's memory analysis and the devices' free memory (at most half of it),
    and on CPU devices of at most 32 runs each (faster); `max_runs_per_chunk` overrides both.
    `progress`: a live progress bar, fed by one host call every `progress_every` updates for all
    runs of a chunk together. `checkpoint_dir`: run the updates in compiled segments of
    `segment_updates` (default 100) and save the loop's carry there every `checkpoint_every`
    updates (a multiple of the segment; default every segment) and on Ctrl-C or SIGTERM; if the
    directory holds a checkpoint of the same runs, training continues from it and ends
    bit-identical to an uninterrupted run. `env`/`env_params`: any gymnax `Environment` instead
    of `config.env_id`; `network`, `objective` and `randomize`: yours (as for `make_train`).
    """
    units, every = check_train_arguments(
        config, num_seeds, max_runs_per_chunk, progress_every, checkpoint_dir, segment_updates,
        checkpoint_every,
    )  # fmt: skip
    settings = settings_of(config, hparams)
    num_runs = num_seeds * settings.learning_rate.shape[0]
    batch = build(config, key, num_runs, progress, progress_every, "", env, env_params,
                  network=network, objective=objective, randomize=randomize)  # fmt: skip
    seed = np.tile(np.arange(num_seeds), num_runs // num_seeds)
    setting = np.repeat(np.arange(num_runs // num_seeds), num_seeds)
    run_keys = jax.random.split(batch.root, num_seeds)[seed]
    run_hparams = jax.tree.map(lambda leaf: leaf[setting], settings)
    inputs = {"key": np.asarray(jax.random.key_data(run_keys)), "hparams": run_hparams}
    fingerprint = {
        "env": None if env is None else type(env).__name__,
        "run_keys": prng.fingerprint(run_keys),
        "run_hparams": jax.tree.map(
            lambda v: np.asarray(v).tolist(), dataclasses.asdict(run_hparams)
        ),
    }
    segment = functools.partial(_segment, training=batch.training, units=units)
    program = batch.program(
        "train", units, batch.init, segment, _finish, fingerprint, independent=True
    )
    out = runner.run(program, inputs, devices, max_runs_per_chunk, checkpoint_dir, every)
    return RunResult(
        config=config,
        metrics=ordered_metrics(out.per_unit),
        params=out.results["params"],
        obs_stats=out.results["obs_stats"],
        hparams=run_hparams,
        setting=setting,
        seed=seed,
        compile_seconds=out.compile_seconds,
        run_seconds=out.run_seconds,
        devices=out.devices,
        runs_per_chunk=out.runs_per_chunk,
        num_chunks=out.num_chunks,
        timed_env_steps=out.timed_run_units * config.batch_size,
    )
