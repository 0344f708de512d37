"""Population-based training (Jaderberg et al. 2017) as a program of the engine.

A generation is `interval` updates of every member, then (except after the last generation) the
worst `fraction` of the population copies the parameters, optimizer state and normaliser
statistics of a randomly chosen member of the best `fraction` (exploit) and perturbs each
searched hyperparameter by a factor from `perturb_factors` or, with probability
`resample_probability`, draws it again from the space (explore). Fitness is the mean return of
the episodes a member finished during the generation; a member with none, or whose training
diverged (non-finite), ranks last. The population is sharded over devices like any batch of
runs (XLA turns the ranking and copying into collectives), shows progress, and checkpoints and
resumes per generation.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.base import prng
from purejaxppo.core.agent import forget
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.hparams import HyperParams
from purejaxppo.core.trainer import TrainState, ordered_metrics
from purejaxppo.engine import runner
from purejaxppo.engine.batched import DEFAULT_PROGRESS_EVERY, BatchedTraining, segment_lengths
from purejaxppo.engine.program import EngineResult
from purejaxppo.engine.progress import TrainingProgress
from purejaxppo.search import scores
from purejaxppo.search.batch import RunBatch, build
from purejaxppo.search.checks import check_pbt_arguments
from purejaxppo.search.scores import windowed_return
from purejaxppo.search.space import (
    Range,
    Space,
    columns,
    explore,
    sample_settings,
    stack_settings,
)
from purejaxppo.search.stats import mean_interval


@dataclasses.dataclass(frozen=True)
class PBTResult:
    """Trajectories have a leading generations axis G (the full intervals, then a shorter last
    generation when `interval` does not divide num_updates); population axis P."""

    config: PPOConfig
    interval: int  # updates per generation
    hparams: dict[str, np.ndarray]  # searched field -> [G + 1, P] (before each generation, final)
    parents: np.ndarray  # [G, P]: whom each member copied after generation g (itself if kept;
    # everyone keeps after the last)
    fitness: np.ndarray  # [G, P]
    metrics: dict[str, np.ndarray]  # [P, num_updates]
    params: Any  # leaves [P, ...]
    obs_stats: Any
    final_hparams: HyperParams  # leaves [P]
    compile_seconds: float
    run_seconds: float
    devices: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        """What summary.json says of this result (JSON data)."""
        first = np.asarray(scores.diverged_at(self.metrics["nonfinite"]))
        final = np.asarray(scores.final_return(self.metrics), np.float64)
        interval = mean_interval(final)
        best = int(np.argmax(np.where(np.isfinite(final), final, -np.inf)))
        return {
            "env_id": self.config.env_id,
            "population": int(final.shape[0]),
            "generations": int(self.fitness.shape[0]),
            "final_return_mean": interval.mean,
            "final_return_ci95": [interval.low, interval.high],
            "members_without_final_episode": int(np.sum(~np.isfinite(final) & (first < 0))),
            "diverged_runs": int(np.sum(first >= 0)),
            "first_nonfinite_update": int(first[first >= 0].min()) if (first >= 0).any() else None,
            "best_member": best,
            "best_member_final_return": float(final[best]),
            "best_member_hparams": {
                column: float(values[-1, best])
                for name, v in self.hparams.items()
                for column, values in columns(name, v, 2).items()
            },
            "compile_seconds": self.compile_seconds,
            "run_seconds": self.run_seconds,
            "devices": list(self.devices),
        }


def generation_fitness(metrics: dict[str, jax.Array]) -> jax.Array:
    """Mean return of the episodes each member finished in a generation; metrics [P, T]. NaN
    (ranked last) when none finished or the losses were not finite."""
    return windowed_return(metrics, 1.0)


def exploit_and_explore(
    key: jax.Array,
    states: TrainState,
    hparams: HyperParams,
    fitness: jax.Array,
    space: Space,
    fraction: float = 0.25,
    perturb_factors: tuple[float, ...] = (0.8, 1.2),
    resample_probability: float = 0.25,
) -> tuple[TrainState, HyperParams, jax.Array]:
    """One PBT step for a population (leaves [P, ...]); returns new states, hparams and parents.

    The `ceil(fraction * P)` lowest-fitness members (NaN ranks lowest) each copy a uniformly
    chosen member of the same number of highest-fitness ones. A copying member keeps its own
    env and its raw observation, which the donor's statistics normalise from then on; a
    recurrent member's GRU state is reset at its next step (it came from other parameters).
    """
    population = fitness.shape[0]
    count = max(1, int(np.ceil(fraction * population)))
    choose_key, explore_key = jax.random.split(key)
    order = jnp.argsort(jnp.where(jnp.isnan(fitness), -jnp.inf, fitness))  # ascending
    bottom, top = order[:count], order[population - count :]
    donors = top[jax.random.randint(choose_key, (count,), 0, count)]
    parents = jnp.arange(population).at[bottom].set(donors)
    replaced = parents != jnp.arange(population)

    def take(tree: Any) -> Any:
        return jax.tree.map(lambda x: x[parents], tree)

    env_loop = states.env_loop
    states = states.replace(
        params=take(states.params),
        opt_state=take(states.opt_state),
        env_loop=env_loop.replace(
            obs_stats=take(env_loop.obs_stats),
            reward_scaler=env_loop.reward_scaler.replace(stats=take(env_loop.reward_scaler.stats)),
            recurrent=forget(env_loop.recurrent, replaced),
        ),
    )
    hparams = take(hparams)
    changes = {}
    for name, field_key in zip(space, jax.random.split(explore_key, len(space)), strict=True):
        value = getattr(hparams, name)
        explored = explore(
            field_key, name, value, space[name], perturb_factors, resample_probability
        )
        mask = replaced.reshape(replaced.shape + (1,) * (value.ndim - 1))
        changes[name] = jnp.where(mask, explored, value)
    return states, hparams.replace(**changes), parents


def _init(inputs: dict[str, Any], batch: RunBatch) -> dict[str, Any]:
    return {"states": batch.init(inputs), "hparams": inputs["hparams"]}


def _generation(
    carry: dict[str, Any],
    inputs: dict[str, Any],
    index: jax.Array,
    training: BatchedTraining,
    explore: Callable[..., tuple[TrainState, HyperParams, jax.Array]],
    key: jax.Array,
    units: tuple[int, ...],
    searched: tuple[str, ...],
) -> tuple[dict[str, Any], runner.Outputs]:
    """Generation `index`: `units[index]` updates of every member, then, except after the last
    generation, exploit and explore. Outputs each update's metrics, and the generation's fitness,
    parents and the hyperparameters the members trained with."""
    interval = units[0]  # every generation but a shorter last one
    count = jnp.asarray(units, jnp.int32)[index] if len(set(units)) > 1 else None
    states, metrics = training.updates(
        carry["states"], carry["hparams"], index * interval, interval, count
    )
    fitness = generation_fitness(metrics)
    population = fitness.shape[0]

    def exploit():
        return explore(jax.random.fold_in(key, index), states, carry["hparams"], fitness)

    def keep():
        return states, carry["hparams"], jnp.arange(population)

    new_states, new_hparams, parents = jax.lax.cond(index < len(units) - 1, exploit, keep)
    history = {name: getattr(carry["hparams"], name) for name in searched}
    outputs = runner.Outputs(
        per_unit=metrics,
        per_segment={"fitness": fitness, "parents": parents, "hparams": history},
    )
    return {"states": new_states, "hparams": new_hparams}, outputs


def _finish(carry: dict[str, Any]) -> dict[str, Any]:
    states, hparams = carry["states"], carry["hparams"]
    return {"params": states.params, "obs_stats": states.env_loop.obs_stats, "hparams": hparams}


def _result(config: PPOConfig, interval: int, space: Space, out: EngineResult) -> PBTResult:
    final = out.results["hparams"]
    history = out.per_segment["hparams"]  # [P, G]
    return PBTResult(
        config=config,
        interval=interval,
        hparams={
            name: np.concatenate([np.swapaxes(history[name], 0, 1), getattr(final, name)[None]])
            for name in space
        },
        parents=out.per_segment["parents"].T,
        fitness=out.per_segment["fitness"].T,
        metrics=ordered_metrics(out.per_unit),
        params=out.results["params"],
        obs_stats=out.results["obs_stats"],
        final_hparams=final,
        compile_seconds=out.compile_seconds,
        run_seconds=out.run_seconds,
        devices=out.devices,
    )


def pbt(
    config: PPOConfig,
    population: int = 8,
    space: Space | None = None,
    interval: int = 10,
    key: jax.Array | int = 0,
    hparams: HyperParams | None = None,
    fraction: float = 0.25,
    perturb_factors: tuple[float, ...] = (0.8, 1.2),
    resample_probability: float = 0.25,
    devices: list[jax.Device] | None = None,
    progress: bool | TrainingProgress = False,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 1,
    progress_every: int = DEFAULT_PROGRESS_EVERY,
    network: Any = None,
    objective: Any = None,
    randomize: Any = None,
) -> PBTResult:
    """Train a population with PBT; one compile, sharded over `devices` (default: all).

    `space` maps the traced hyperparameters PBT may change to a list of values or a `Range` (as
    in `sweep`); initial values are sampled from it unless `hparams` (leaves [population]) gives
    them. `interval` is in updates; the num_updates % interval updates left over run as a last,
    shorter generation. With `checkpoint_dir`, the population is saved every `checkpoint_every`
    generations and on Ctrl-C or SIGTERM, and a second call with the same arguments resumes it
    bit-identically. `network`, `objective` and `randomize`: yours (as for `make_train`).
    """
    space = dict(space or {"learning_rate": Range(1e-4, 1e-3)})
    check_pbt_arguments(config, space, population, interval, hparams, fraction, perturb_factors,
                        resample_probability, checkpoint_every, progress_every)  # fmt: skip
    batch = build(config, key, population, progress, progress_every, "PBT",
                  network=network, objective=objective, randomize=randomize)  # fmt: skip
    sample_key, init_key, run_key = jax.random.split(batch.root, 3)
    if hparams is None:
        hparams = stack_settings(
            config, sample_settings(config, space, "random", population, sample_key)
        )
    hparams = jax.tree.map(lambda x: np.asarray(x, np.float32), hparams)
    units = segment_lengths(config.num_updates, interval)
    explore_step = functools.partial(
        exploit_and_explore,
        space=space,
        fraction=fraction,
        perturb_factors=perturb_factors,
        resample_probability=resample_probability,
    )
    segment = functools.partial(
        _generation,
        training=batch.training,
        explore=explore_step,
        key=run_key,
        units=units,
        searched=tuple(space),
    )
    inputs = {
        "key": np.asarray(jax.random.key_data(jax.random.split(init_key, population))),
        "hparams": hparams,
    }
    fingerprint = {
        "population": population,
        "space": {k: repr(v) for k, v in space.items()},
        "interval": interval,
        "key": prng.fingerprint(batch.root),
        "hparams": jax.tree.map(lambda v: np.asarray(v).tolist(), dataclasses.asdict(hparams)),
        "pbt": [fraction, list(perturb_factors), resample_probability],
    }
    init = functools.partial(_init, batch=batch)
    program = batch.program("pbt", units, init, segment, _finish, fingerprint)
    out = runner.run(program, inputs, devices, None, checkpoint_dir, checkpoint_every)
    return _result(config, interval, space, out)
