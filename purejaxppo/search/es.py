"""Evolution strategies over hyperparameters (evosax), the whole search one compiled scan.

Each generation the strategy asks for `population` points z in R^d, one coordinate per searched
field. A point is decoded into hyperparameters (each `Range`'s bounds through a sigmoid, in log
space for scale parameters), every member trains `num_seeds` runs from scratch, a member's fitness
is the mean over its seeds of `fitness(metrics)` (default: the final return), and the strategy is
told. The seeds of a generation are the same for every member (common random numbers: members
differ by their hyperparameters only) and new in every generation. Ask, train and tell for
`segment_generations` generations are one `lax.scan` in one engine segment; the engine shards the
population x seeds runs over the devices, shows progress and, with a checkpoint directory, saves
between segments and resumes. evosax minimises, so it is told the negated fitness, with a member
that diverged or has no score (NaN) placed below the worst finite one.
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
from purejaxppo.core.config import PPOConfig
from purejaxppo.engine import runner
from purejaxppo.engine.batched import DEFAULT_PROGRESS_EVERY, segment_lengths
from purejaxppo.engine.program import EngineResult
from purejaxppo.engine.progress import TrainingProgress
from purejaxppo.search.batch import RunBatch, build
from purejaxppo.search.checks import check_es_arguments
from purejaxppo.search.scores import ScoreFn
from purejaxppo.search.space import Range, Space
from purejaxppo.search.strategies import ALIASES, Encoding, to_minimise


@dataclasses.dataclass(frozen=True)
class ESResult:
    """A finished search. G generations, P members, S seeds per member."""

    config: PPOConfig
    strategy: str
    fitness_name: str
    num_seeds: int
    fitness: np.ndarray  # [G, P]: mean over the member's seeds (NaN if any seed has no score)
    run_fitness: np.ndarray  # [G, P, S]
    diverged: np.ndarray  # [G, P, S]: training went non-finite
    hparams: dict[str, Any]  # field -> [G, P, ...]: each member's setting (a schedule [G, P, K],
    # the drift a pytree of such leaves)
    mean: dict[str, Any]  # field -> [G + 1, ...]: the search distribution's mean before each
    # generation, and after the last
    compile_seconds: float
    run_seconds: float
    devices: tuple[str, ...]

    @property
    def best(self) -> dict[str, float]:
        """The setting of the fittest member of any generation (fitness on the search's own seeds:
        confirm it on held-out seeds)."""
        generation, member = self.best_index
        return {k: _item(jax.tree.map(lambda x: x[generation, member], v))
                for k, v in self.hparams.items()}  # fmt: skip

    @property
    def best_index(self) -> tuple[int, int]:
        scores = np.where(np.isfinite(self.fitness), self.fitness, -np.inf)
        flat = int(np.argmax(scores))
        return divmod(flat, self.fitness.shape[1])

    @property
    def best_fitness(self) -> float:
        generation, member = self.best_index
        return float(self.fitness[generation, member])

    @property
    def final_mean(self) -> dict[str, float]:
        """The search distribution's mean after the last generation."""
        return {k: _item(jax.tree.map(lambda x: x[-1], v)) for k, v in self.mean.items()}

    def summary(self) -> dict[str, Any]:
        """What summary.json says of this result (JSON data)."""
        generation, member = self.best_index
        with np.errstate(invalid="ignore"):
            per_generation = np.nanmean(
                np.where(np.isfinite(self.fitness), self.fitness, np.nan), 1
            )
        return {
            "env_id": self.config.env_id,
            "strategy": self.strategy,
            "fitness": self.fitness_name,
            "population": int(self.fitness.shape[1]),
            "generations": int(self.fitness.shape[0]),
            "num_seeds": self.num_seeds,
            "best": _flat(self.best),
            "best_fitness": self.best_fitness,
            "best_generation": generation,
            "best_member": member,
            "final_mean": _flat(self.final_mean),
            "mean_fitness_per_generation": per_generation.tolist(),
            "diverged_runs": int(self.diverged.sum()),
            "compile_seconds": self.compile_seconds,
            "run_seconds": self.run_seconds,
            "generations_per_minute": 60 * self.fitness.shape[0] / max(self.run_seconds, 1e-9),
            "devices": list(self.devices),
        }


# eq=False: hashed by identity, so that its bound methods can be the engine's jitted functions.
@dataclasses.dataclass(frozen=True, eq=False)
class _Search:
    """One search, as the engine's program runs it: each generation asks the strategy for
    `population` points, trains every member's `num_seeds` runs from scratch (leaves [R, ...],
    R = population x num_seeds, member-major) and tells it their fitness."""

    batch: RunBatch
    encoding: Encoding
    algorithm: Any
    params: Any
    fitness: ScoreFn
    population: int
    num_seeds: int
    generations: int
    units: tuple[int, ...]  # generations per segment

    @property
    def runs(self) -> int:
        return self.population * self.num_seeds

    @functools.cached_property
    def keys(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """The keys of the search (ask and tell), the generations' seeds and the start."""
        return tuple(jax.random.split(self.batch.root, 3))

    def generation(self, state: Any, inputs: dict[str, Any], index: jax.Array, split: tuple):
        """Ask, train every run of generation `index` from scratch (in `split` = (parts, devices)
        groups), tell; outputs per run."""
        ask_key, tell_key = jax.random.split(jax.random.fold_in(self.keys[0], index))
        z, state_asked = self.algorithm.ask(ask_key, state, self.params)
        values = jax.tree.map(lambda v: v[inputs["member"]], self.encoding.decode(z))
        base = _broadcast(self.batch.config.hparams, self.runs)
        hparams = jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), base).replace(**values)
        training, updates = self.batch.training, self.batch.config.num_updates
        keys = training.fold_in(inputs["key"], index)
        parts, devices = split
        metrics = training.fresh_runs(
            keys, hparams, index * parts * updates, updates, parts, devices
        )
        run_fitness = jax.vmap(self.fitness)(metrics).astype(jnp.float32)  # [R]
        member_fitness = run_fitness.reshape(self.population, self.num_seeds).mean(axis=1)
        state_told, _ = self.algorithm.tell(
            tell_key, z, to_minimise(member_fitness), state_asked, self.params
        )
        outputs = {
            "fitness": run_fitness,
            "diverged": jnp.any(metrics["nonfinite"] > 0, axis=1),
            "hparams": values,
            "mean": _broadcast(self.encoding.decode(state.mean), self.runs),
        }
        return state_told, outputs

    def segment(self, carry, inputs, index, split=(1, 1)) -> tuple[Any, runner.Outputs]:
        """`units[0]` generations as one scan (a shorter last segment skips the ones past the
        end); every run holds the same copy of the strategy's state."""
        state = jax.tree.map(lambda x: x[0], carry["es"])
        first = index * self.units[0]

        def body(state, i):
            if len(set(self.units)) == 1:
                return self.generation(state, inputs, first + i, split)
            skipped = jax.eval_shape(lambda s: self.generation(s, inputs, first, split), state)[1]
            return jax.lax.cond(
                first + i < self.generations,
                lambda: self.generation(state, inputs, first + i, split),
                lambda: (state, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), skipped)),
            )

        state, outputs = jax.lax.scan(body, state, jnp.arange(self.units[0]))
        per_unit = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), outputs)  # [R, n, ...]
        return {"es": _broadcast(state, self.runs)}, runner.Outputs(per_unit, per_segment={})

    def in_parts(self, parts: int, devices: int) -> Callable:
        """The segment, training each generation's runs in `parts` groups per device."""
        return functools.partial(self.segment, split=(parts, devices))

    def init(self, inputs: dict[str, Any]) -> dict[str, Any]:
        start = jnp.asarray(self.encoding.start)
        state = self.algorithm.init(self.keys[2], start, self.params)
        return {"es": _broadcast(state, inputs["member"].shape[0])}

    def finish(self, carry: dict[str, Any]) -> dict[str, Any]:
        state = jax.tree.map(lambda x: x[0], carry["es"])
        return {"mean": _broadcast(self.encoding.decode(state.mean), self.runs)}

    def inputs(self) -> dict[str, np.ndarray]:
        """Every member's runs share the generation's seeds (common random numbers)."""
        seeds = jax.random.split(self.keys[1], self.num_seeds)
        return {
            "key": np.tile(np.asarray(jax.random.key_data(seeds)), (self.population, 1)),
            "member": np.repeat(np.arange(self.population, dtype=np.int32), self.num_seeds),
        }


def es(
    config: PPOConfig,
    space: Space | None = None,
    population: int = 16,
    generations: int = 10,
    num_seeds: int = 4,
    strategy: str = "CMA_ES",
    key: jax.Array | int = 0,
    fitness: str | ScoreFn = "final_return",
    std_init: float = 0.5,
    strategy_options: dict[str, Any] | None = None,
    devices: list[jax.Device] | None = None,
    progress: bool | TrainingProgress = False,
    checkpoint_dir: str | Path | None = None,
    segment_generations: int | None = None,
    checkpoint_every: int = 1,
    max_runs_per_chunk: int | None = None,
    progress_every: int = DEFAULT_PROGRESS_EVERY,
    network: Any = None,
    objective: Any = None,
    randomize: Any = None,
) -> ESResult:
    """Search the `space` (field -> `Range`) with an evosax strategy; one compile.

    Every generation trains population x num_seeds runs of `config` for its full budget.
    `fitness` names a score of `purejaxppo.search.scores` ("final_return", "area_under_curve")
    or is a function of one run's metrics (leaves [T]) returning a scalar, higher better. The
    search starts at the config's values (a value outside its range starts at the range's middle)
    with std `std_init` in z units (a sigmoid's input). Generations run `segment_generations` at
    a time in one compiled scan (default: all of them, or one per segment with `checkpoint_dir`,
    where a checkpoint is saved every `checkpoint_every` segments and a second call with the same
    arguments resumes). When population x num_seeds runs do not fit in memory together (or
    exceed `max_runs_per_chunk`), each generation trains them in groups one after another.
    `network`, `objective` and `randomize`: yours (as for `make_train`); an objective reads the
    traced hyperparameters, so the ones it reads are searchable.
    """
    space = dict(space or {"learning_rate": Range(1e-4, 1e-2)})
    encoding, (algorithm, params), fitness, fitness_name = check_es_arguments(
        config, space, population, generations, num_seeds, strategy, std_init, strategy_options,
        fitness, segment_generations, checkpoint_every, max_runs_per_chunk, progress_every,
    )  # fmt: skip
    if segment_generations is None:
        segment_generations = 1 if checkpoint_dir is not None else generations
    units = segment_lengths(generations, min(segment_generations, generations))
    runs = population * num_seeds
    batch = build(config, key, runs, progress, progress_every, "ES", generations=generations,
                  network=network, objective=objective, randomize=randomize)  # fmt: skip
    search = _Search(batch, encoding, algorithm, params, fitness, population, num_seeds,
                     generations, units)  # fmt: skip
    fingerprint = {
        "space": {k: repr(v) for k, v in space.items()},
        "population": population,
        "num_seeds": num_seeds,
        "strategy": [ALIASES.get(strategy, strategy), std_init, repr(strategy_options)],
        "fitness": fitness_name,
        "key": prng.fingerprint(batch.root),
    }
    program = batch.program("es", units, search.init, search.segment, search.finish,
                            fingerprint, in_parts=search.in_parts)  # fmt: skip
    out = runner.run(
        program, search.inputs(), devices, max_runs_per_chunk, checkpoint_dir, checkpoint_every
    )
    return _result(search, ALIASES.get(strategy, strategy), fitness_name, out)


def _result(search: _Search, strategy: str, fitness_name: str, out: EngineResult) -> ESResult:
    per_unit = out.per_unit  # leaves [R, G, ...]
    shape = (search.population, search.num_seeds, search.generations)

    def by_member(x: np.ndarray) -> np.ndarray:  # [R, G, ...] -> [G, P, S, ...]
        return np.moveaxis(x.reshape(*shape, *x.shape[2:]), 2, 0)

    run_fitness = by_member(per_unit["fitness"])
    with np.errstate(invalid="ignore"):
        member_fitness = run_fitness.mean(axis=2)
    names = search.encoding.names
    return ESResult(
        config=search.batch.config,
        strategy=strategy,
        fitness_name=fitness_name,
        num_seeds=search.num_seeds,
        fitness=member_fitness,
        run_fitness=run_fitness,
        diverged=by_member(per_unit["diverged"]),
        hparams={
            k: jax.tree.map(lambda x: by_member(x)[:, :, 0], per_unit["hparams"][k]) for k in names
        },
        mean={
            k: jax.tree.map(
                lambda x, last: np.concatenate([x[0], last[:1]]),
                per_unit["mean"][k],
                out.results["mean"][k],
            )
            for k in names
        },
        compile_seconds=out.compile_seconds,
        run_seconds=out.run_seconds,
        devices=out.devices,
    )


def _item(value: Any) -> Any:
    """A float for a scalar field, else the array (a schedule) or pytree (the drift)."""
    return float(value) if not isinstance(value, dict) and np.ndim(value) == 0 else value


def _broadcast(state: Any, runs: int) -> Any:
    """The strategy's state copied for every run: the engine carries leaves [R, ...], and each
    run's copy stays identical (the state is small next to a run's training state)."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (runs, *jnp.shape(x))), state)


def _flat(setting: dict[str, Any]) -> dict[str, Any]:
    """A setting for JSON: floats, a schedule as a list of knots, the drift as nested lists."""
    return jax.tree.map(lambda v: np.asarray(v).tolist(), setting)
