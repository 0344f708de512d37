"""The arguments of the searches, checked before any work: each entry point calls its check
first, and the command line calls the same one before it creates a run directory."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from purejaxppo.base.errors import ConfigError, check_positive_int, config_error
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.hparams import HyperParams, check_values
from purejaxppo.engine.batched import DEFAULT_PROGRESS_EVERY, segment_lengths
from purejaxppo.search.scores import SCORES, ScoreFn
from purejaxppo.search.space import Space, check_space
from purejaxppo.search.strategies import Encoding, make_strategy

DEFAULT_SEGMENT_UPDATES = 100


def check_train_arguments(
    config: PPOConfig,
    num_seeds: int,
    max_runs_per_chunk: int | None,
    progress_every: int,
    checkpoint_dir: object,
    segment_updates: int | None,
    checkpoint_every: int | None,
) -> tuple[tuple[int, ...], int]:
    """Check `train`'s arguments; its plan: the updates of each segment, and checkpoints every
    how many segments. Without a checkpoint directory and segment length the whole run is one
    segment."""
    check_positive_int("num_seeds", num_seeds, 64)
    check_positive_int("max_runs_per_chunk", max_runs_per_chunk, 256, allow_none=True)
    check_positive_int("progress_every", progress_every, 10)
    check_positive_int("segment_updates", segment_updates, 100, allow_none=True)
    check_positive_int("checkpoint_every", checkpoint_every, 500, allow_none=True)
    if segment_updates is None:
        segment_updates = DEFAULT_SEGMENT_UPDATES if checkpoint_dir else config.num_updates
    segment_updates = min(segment_updates, config.num_updates)
    every = checkpoint_every or segment_updates
    units = segment_lengths(config.num_updates, segment_updates)
    if every >= config.num_updates:  # no checkpoint before the end (only on Ctrl-C or SIGTERM)
        return units, len(units)
    if every % segment_updates:
        raise ConfigError(
            f"checkpoint_every={every}: not a whole number of segments of segment_updates="
            f"{segment_updates} updates. Fix: use a multiple of {segment_updates}, e.g. "
            f"{max(1, round(every / segment_updates)) * segment_updates}."
        )
    return units, every // segment_updates


def check_pbt_arguments(
    config: PPOConfig,
    space: Space,
    population: int = 8,
    interval: int = 10,
    hparams: HyperParams | None = None,
    fraction: float = 0.25,
    perturb_factors: tuple[float, ...] = (0.8, 1.2),
    resample_probability: float = 0.25,
    checkpoint_every: int = 1,
    progress_every: int = DEFAULT_PROGRESS_EVERY,
) -> None:
    """Raise ConfigError unless `pbt` can run with these arguments (its own defaults alike);
    the command line calls it before it creates anything."""
    check_space(config, space)
    check_positive_int("checkpoint_every", checkpoint_every, 1)
    check_positive_int("progress_every", progress_every, 10)
    check_positive_int("interval", interval, 10)
    if not isinstance(population, int) or isinstance(population, bool) or population < 2:
        raise ConfigError(f"population={population!r}: must be an integer >= 2. Fix: e.g. 8.")
    if not 0.0 < fraction <= 0.5:
        raise ConfigError(f"fraction={fraction!r}: must be in (0, 0.5]. Fix: e.g. 0.25.")
    if interval > config.num_updates:
        raise ConfigError(
            f"interval={interval}: longer than the run ({config.num_updates} updates). "
            "Fix: a smaller interval or a larger total_timesteps."
        )
    if not 0.0 <= resample_probability <= 1.0:
        raise config_error("resample_probability", resample_probability, "not in [0, 1]", "use .25")
    if not perturb_factors or not all(0 < f < np.inf for f in perturb_factors):
        raise config_error("perturb_factors", perturb_factors, "not all > 0", "use (0.8, 1.2)")
    moved = math.ceil(fraction * population)
    if 2 * moved > population:
        raise ConfigError(
            f"fraction={fraction!r} with population={population}: the bottom and the top "
            f"ceil(fraction * population) = {moved} members would overlap. Fix: fraction <= "
            f"{population // 2 / population:g}, or a larger population."
        )
    if hparams is not None:
        check_values(hparams)
    if hparams is not None and np.shape(hparams.learning_rate) != (population,):
        raise ConfigError(
            f"hparams: leaves must have shape ({population},), one value per member. "
            "Fix: build them with HyperParams.stack."
        )


def check_es_arguments(
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
