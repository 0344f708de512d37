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
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.base import prng
from purejaxppo.base.errors import ConfigError, as_key, check_positive_int
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.trainer import make_train_functions
from purejaxppo.engine import runner
from purejaxppo.engine.batched import DEFAULT_PROGRESS_EVERY, BatchedTraining, segment_lengths
from purejaxppo.engine.progress import Progress, TrainingProgress, tracker_for
from purejaxppo.search.scores import SCORES, ScoreFn
from purejaxppo.search.space import Range, Space
from purejaxppo.search.strategies import ALIASES, Encoding, make_strategy, to_minimise


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


def prepare(
    config: PPOConfig,
    space: Space,
    population: int = 16,
    generations: int = 10,
    num_seeds: int = 4,
    strategy: str = "CMA_ES",
    std_init: float = 0.5,
    strategy_options: dict[str, Any] | None = None,
    fitness: str | ScoreFn = "final_return",
    segment_generations: int | None = None,
    checkpoint_every: int = 1,
    max_runs_per_chunk: int | None = None,
    progress_every: int = DEFAULT_PROGRESS_EVERY,
) -> tuple[Encoding, tuple[Any, Any], ScoreFn, str]:
    """Check the arguments of `es` (a ConfigError naming the bad one) before anything runs; the
    encoding of the space, the strategy and its params, the fitness function and its name."""
    if not isinstance(population, int) or isinstance(population, bool) or population < 2:
        raise ConfigError(f"population={population!r}: must be an integer >= 2. Fix: e.g. 16.")
    check_positive_int("generations", generations, 10)
    check_positive_int("num_seeds", num_seeds, 4)
    check_positive_int("segment_generations", segment_generations, 1, allow_none=True)
    check_positive_int("checkpoint_every", checkpoint_every, 1)
    check_positive_int("max_runs_per_chunk", max_runs_per_chunk, 16, allow_none=True)
    check_positive_int("progress_every", progress_every, 10)
    if not (isinstance(std_init, (int, float)) and 0 < std_init < np.inf):
        raise ConfigError(f"std_init={std_init!r}: must be a positive number. Fix: e.g. 0.5.")
    encoding = Encoding.of(config, space)
    strategy = make_strategy(strategy, population, encoding.size, float(std_init), strategy_options)
    if not isinstance(fitness, str):
        return encoding, strategy, fitness, getattr(fitness, "__qualname__", "")
    if fitness not in SCORES:
        raise ConfigError(
            f"fitness={fitness!r}: unknown. Fix: one of {', '.join(SCORES)}, or a "
            "function of one run's metrics."
        )
    return encoding, strategy, SCORES[fitness], fitness


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
) -> ESResult:
    """Search the `space` (field -> `Range`) with an evosax strategy; one compile.

    Every generation trains population x num_seeds runs of `config` for its full budget.
    `fitness` names a score of `purejaxppo.search.scores` ("final_return", "area_under_curve") or is
    a function of one run's metrics (leaves [T]) returning a scalar, higher better. The search
    starts at the config's values (a value outside its range starts at the range's middle) with
    std `std_init` in z units (a sigmoid's input). Generations run `segment_generations` at a
    time in one compiled scan (default: all of them, or one per segment with `checkpoint_dir`,
    where a checkpoint is saved every `checkpoint_every` segments and a second call with the same
    arguments resumes). When population x num_seeds runs do not fit in memory together (or
    exceed `max_runs_per_chunk`), each generation trains them in groups one after another.
    """
    space = dict(space or {"learning_rate": Range(1e-4, 1e-2)})
    encoding, (algorithm, params), fitness, fitness_name = prepare(
        config, space, population, generations, num_seeds, strategy, std_init, strategy_options,
        fitness, segment_generations, checkpoint_every, max_runs_per_chunk, progress_every,
    )  # fmt: skip
    if segment_generations is None:
        segment_generations = 1 if checkpoint_dir is not None else generations
    segment_generations = min(segment_generations, generations)
    units = segment_lengths(generations, segment_generations)
    impl = jax.random.key_impl(root := as_key(key))
    search_key, seed_key, init_key = jax.random.split(root, 3)
    runs = population * num_seeds
    updates = config.num_updates
    tracker = tracker_for(progress, runs, generations * config.env_steps, config.batch_size,
                          f"{config.env_id} ES", updates_per_unit=updates)  # fmt: skip
    training = BatchedTraining(make_train_functions(config), tracker, progress_every, impl)
    base = config.hparams
    start_mean = jnp.asarray(encoding.start)

    def generation(state: Any, inputs: dict[str, jax.Array], index: jax.Array, split: tuple):
        ask_key, tell_key = jax.random.split(jax.random.fold_in(search_key, index))
        z, state_asked = algorithm.ask(ask_key, state, params)
        member = inputs["member"]
        values = jax.tree.map(lambda v: v[member], encoding.decode(z))  # field -> [R, ...]
        hparams = jax.tree.map(
            lambda v: jnp.broadcast_to(jnp.asarray(v, jnp.float32), (runs, *jnp.shape(v))), base
        ).replace(**values)
        keys = training.fold_in(inputs["key"], index)
        parts, devices = split
        first = index * parts * updates
        metrics = training.fresh_runs(keys, hparams, first, updates, parts, devices)
        run_fitness = jax.vmap(fitness)(metrics).astype(jnp.float32)  # [R]
        member_fitness = run_fitness.reshape(population, num_seeds).mean(axis=1)
        state_told, _ = algorithm.tell(
            tell_key, z, to_minimise(member_fitness), state_asked, params
        )
        outputs = {
            "fitness": run_fitness,
            "diverged": jnp.any(metrics["nonfinite"] > 0, axis=1),
            "hparams": values,
            "mean": _broadcast(encoding.decode(state.mean), runs),
        }  # fmt: skip
        return state_told, outputs

    def segment_in(parts: int, devices: int):
        """The segment function, training each generation's runs in `parts` groups."""
        split = (parts, devices)

        def segment(carry, inputs, index):
            state = jax.tree.map(lambda x: x[0], carry["es"])  # every run holds the same copy
            first = index * segment_generations

            def body(state, i):
                if len(set(units)) == 1:
                    return generation(state, inputs, first + i, split)
                shapes = jax.eval_shape(lambda s: generation(s, inputs, first, split), state)
                skipped = shapes[1]
                return jax.lax.cond(
                    first + i < generations,
                    lambda: generation(state, inputs, first + i, split),
                    lambda: (state, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), skipped)),
                )

            state, outputs = jax.lax.scan(body, state, jnp.arange(segment_generations))
            per_unit = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), outputs)  # [R, n, ...]
            outputs = runner.Outputs(per_unit=per_unit, per_segment={})
            return {"es": _broadcast(state, runs)}, outputs

        return segment

    def init(inputs):
        state = algorithm.init(init_key, start_mean, params)
        return {"es": _broadcast(state, inputs["member"].shape[0])}

    def finish(carry):
        state = jax.tree.map(lambda x: x[0], carry["es"])
        return {"mean": _broadcast(encoding.decode(state.mean), runs)}

    seed_keys = np.asarray(jax.random.key_data(jax.random.split(seed_key, num_seeds)))
    inputs = {
        "key": np.tile(seed_keys, (population, 1)),
        "member": np.repeat(np.arange(population, dtype=np.int32), num_seeds),
    }
    program = runner.Program(
        name="es",
        init=init,
        segment=segment_in(1, 1),
        finish=finish,
        segment_units=units,
        independent=False,
        in_parts=segment_in,
        fingerprint={
            "config": config.to_dict(),
            "space": {k: repr(v) for k, v in space.items()},
            "population": population,
            "num_seeds": num_seeds,
            "strategy": [ALIASES.get(strategy, strategy), std_init, repr(strategy_options)],
            "fitness": fitness_name,
            "key": prng.fingerprint(root),
        },
        progress=tracker or Progress(),
    )
    out = runner.run(program, inputs, devices, max_runs_per_chunk, checkpoint_dir, checkpoint_every)
    per_unit = out.per_unit  # leaves [R, G, ...]

    def by_member(x: np.ndarray) -> np.ndarray:  # [R, G, ...] -> [G, P, S, ...]
        return np.moveaxis(x.reshape(population, num_seeds, generations, *x.shape[2:]), 2, 0)

    run_fitness = by_member(per_unit["fitness"])
    with np.errstate(invalid="ignore"):
        member_fitness = run_fitness.mean(axis=2)
    return ESResult(
        config=config,
        strategy=ALIASES.get(strategy, strategy),
        fitness_name=fitness_name,
        num_seeds=num_seeds,
        fitness=member_fitness,
        run_fitness=run_fitness,
        diverged=by_member(per_unit["diverged"]),
        hparams={
            k: jax.tree.map(lambda x: by_member(x)[:, :, 0], per_unit["hparams"][k])
            for k in encoding.names
        },
        mean={
            k: jax.tree.map(
                lambda x, last: np.concatenate([x[0], last[:1]]),
                per_unit["mean"][k],
                out.results["mean"][k],
            )
            for k in encoding.names
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
