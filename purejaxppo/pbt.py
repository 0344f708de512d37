"""Population-based training (Jaderberg et al. 2017) inside one compiled `lax.scan`.

Every `interval` updates, the worst `fraction` of the population copies the parameters, optimizer
state and normaliser statistics of a randomly chosen member of the best `fraction` (exploit), and
perturbs each swept hyperparameter by a factor from `perturb_factors` or, with probability
`resample_probability`, draws it again from the space (explore). Fitness is the mean return of
the episodes a member finished during the last interval. No host round-trip.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.config import ConfigError, HyperParams, PPOConfig
from purejaxppo.sweep import LOG_SCALE_FIELDS, Range, SpaceValue, sample_settings
from purejaxppo.trainer import METRIC_NAMES, TrainState, make_train_functions

UNIT_INTERVAL_FIELDS = ("gamma", "gae_lambda")


@dataclasses.dataclass(frozen=True)
class PBTResult:
    """Trajectories have a leading generations axis G; population axis P."""

    config: PPOConfig
    hparams: dict[str, np.ndarray]  # swept field -> [G + 1, P] (before each generation, and final)
    parents: np.ndarray  # [G, P]: whom each member copied after generation g (itself if kept)
    fitness: np.ndarray  # [G, P]
    metrics: dict[str, np.ndarray]  # [P, num_updates]
    params: Any  # leaves [P, ...]
    obs_stats: Any
    final_hparams: HyperParams  # leaves [P]
    compile_seconds: float
    run_seconds: float


def _explore_value(key, value, spec: SpaceValue, name: str, factors, resample_probability):
    """Perturb `value` [P] by a random factor, or resample it from `spec` with some probability."""
    perturb_key, choice_key, resample_key = jax.random.split(key, 3)
    factors = jnp.asarray(factors, jnp.float32)
    perturbed = value * factors[jax.random.randint(perturb_key, value.shape, 0, factors.shape[0])]
    if isinstance(spec, Range):
        log = name in LOG_SCALE_FIELDS if spec.log is None else spec.log
        if log:
            fresh = jnp.exp(
                jax.random.uniform(
                    resample_key, value.shape, minval=np.log(spec.low), maxval=np.log(spec.high)
                )
            )
        else:
            fresh = jax.random.uniform(resample_key, value.shape, minval=spec.low, maxval=spec.high)
    else:
        choices = jnp.asarray(spec, jnp.float32)
        fresh = choices[jax.random.randint(resample_key, value.shape, 0, choices.shape[0])]
    resample = jax.random.uniform(choice_key, value.shape) < resample_probability
    new = jnp.where(resample, fresh, perturbed)
    if name in UNIT_INTERVAL_FIELDS:
        new = jnp.clip(new, 0.0, 1.0)
    return new.astype(jnp.float32)


def exploit_and_explore(
    key: jax.Array,
    states: TrainState,
    hparams: HyperParams,
    fitness: jax.Array,
    space: Mapping[str, SpaceValue],
    fraction: float = 0.25,
    perturb_factors: tuple[float, ...] = (0.8, 1.2),
    resample_probability: float = 0.25,
) -> tuple[TrainState, HyperParams, jax.Array]:
    """One PBT step for a population (leaves [P, ...]); returns new states, hparams and parents.

    The `ceil(fraction * P)` lowest-fitness members (NaN fitness ranks lowest) each copy a
    uniformly chosen member of the same number of highest-fitness ones.
    """
    population = fitness.shape[0]
    count = max(1, int(np.ceil(fraction * population)))
    choose_key, explore_key = jax.random.split(key)
    order = jnp.argsort(jnp.where(jnp.isnan(fitness), -jnp.inf, fitness))  # ascending
    bottom, top = order[:count], order[population - count :]
    donors = top[jax.random.randint(choose_key, (count,), 0, count)]
    parents = jnp.arange(population).at[bottom].set(donors)
    replaced = parents != jnp.arange(population)

    take = lambda tree: jax.tree.map(lambda x: x[parents], tree)  # noqa: E731
    env_loop = states.env_loop
    states = states.replace(
        params=take(states.params),
        opt_state=take(states.opt_state),
        env_loop=env_loop.replace(
            obs_stats=take(env_loop.obs_stats),
            reward_scaler=env_loop.reward_scaler.replace(stats=take(env_loop.reward_scaler.stats)),
        ),
    )
    hparams = take(hparams)
    changes = {}
    for name, field_key in zip(space, jax.random.split(explore_key, len(space)), strict=True):
        value = getattr(hparams, name)
        explored = _explore_value(
            field_key, value, space[name], name, perturb_factors, resample_probability
        )
        changes[name] = jnp.where(replaced, explored, value)
    return states, hparams.replace(**changes), parents


def _generation_fitness(metrics: dict[str, jax.Array]) -> jax.Array:
    """Mean return of the episodes each member finished in the generation; metrics [T, P]."""
    count = metrics["episodes_finished"].astype(jnp.float32)
    total = jnp.sum(jnp.where(count > 0, metrics["episode_return"] * count, 0.0), axis=0)
    finished = jnp.sum(count, axis=0)
    return jnp.where(finished > 0, total / jnp.maximum(finished, 1.0), jnp.nan)


def pbt(
    config: PPOConfig,
    population: int = 8,
    space: Mapping[str, SpaceValue] | None = None,
    interval: int = 10,
    key: jax.Array | int = 0,
    hparams: HyperParams | None = None,
    fraction: float = 0.25,
    perturb_factors: tuple[float, ...] = (0.8, 1.2),
    resample_probability: float = 0.25,
) -> PBTResult:
    """Train a population with PBT in one compiled call.

    `space` maps the traced hyperparameters that PBT may change to a list of values or a `Range`
    (as in `sweep`); initial values are sampled from it, unless `hparams` (leaves [population])
    gives them. `interval` is in updates; a remainder of num_updates % interval updates runs at
    the end without a PBT step.
    """
    space = dict(space or {"learning_rate": Range(1e-4, 1e-3)})
    for name, value, least in (("population", population, 2), ("interval", interval, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"{name}={value!r}: must be an integer >= {least}. Fix: raise it.")
    if not 0.0 < fraction <= 0.5:
        raise ConfigError(f"fraction={fraction!r}: must be in (0, 0.5]. Fix: e.g. fraction=0.25.")
    if interval > config.num_updates:
        raise ConfigError(
            f"interval={interval}: longer than the run ({config.num_updates} updates). "
            "Fix: a smaller interval or a larger total_timesteps."
        )
    key = jax.random.key(key) if isinstance(key, int) else key
    sample_key, init_key, run_key = jax.random.split(key, 3)
    if hparams is None:
        settings = sample_settings(config, space, "random", population, sample_key)
        hparams = HyperParams.stack([config.replace(**values).hparams for values in settings])
    elif np.shape(hparams.learning_rate) != (population,):
        raise ConfigError(
            f"hparams: leaves must have shape ({population},), one value per member. "
            "Fix: build them with HyperParams.stack."
        )
    functions = make_train_functions(config)
    step = jax.vmap(functions.step)
    generations, remainder = divmod(config.num_updates, interval)

    def run_updates(states, member_hparams, length):
        return jax.lax.scan(lambda s, _: step(s, member_hparams), states, None, length=length)

    def generation(carry, generation_key):
        states, member_hparams = carry
        states, metrics = run_updates(states, member_hparams, interval)
        fitness = _generation_fitness(metrics)
        states, new_hparams, parents = exploit_and_explore(
            generation_key, states, member_hparams, fitness, space,
            fraction, perturb_factors, resample_probability,
        )  # fmt: skip
        return (states, new_hparams), (metrics, member_hparams, parents, fitness)

    @jax.jit
    def run(init_key, run_key, member_hparams):
        states = jax.vmap(functions.init)(jax.random.split(init_key, population))
        (states, member_hparams), (metrics, history, parents, fitness) = jax.lax.scan(
            generation, (states, member_hparams), jax.random.split(run_key, generations)
        )
        metrics = jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), metrics)  # [G*I, P]
        if remainder:
            states, tail = run_updates(states, member_hparams, remainder)
            metrics = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), metrics, tail)
        return states, member_hparams, metrics, history, parents, fitness

    start = time.perf_counter()
    compiled = run.lower(init_key, run_key, hparams).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(init_key, run_key, hparams))
    run_seconds = time.perf_counter() - start
    states, final_hparams, metrics, history, parents, fitness = out
    host = lambda tree: jax.tree.map(np.asarray, tree)  # noqa: E731
    final_hparams, metrics, history = host(final_hparams), host(metrics), host(history)

    trajectory = {
        name: np.concatenate([getattr(history, name), getattr(final_hparams, name)[None]])
        for name in space
    }
    return PBTResult(
        config=config,
        hparams=trajectory,
        parents=np.asarray(parents),
        fitness=np.asarray(fitness),
        metrics={name: np.swapaxes(metrics[name], 0, 1) for name in METRIC_NAMES},
        params=host(states.params),
        obs_stats=host(states.env_loop.obs_stats),
        final_hparams=final_hparams,
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
    )
