"""What an evolution strategy searches: a space encoded as one vector z in R^d, and the evosax
strategies offered by name.

Each searched field takes a slice of z: a `Range` (a scalar field, or each knot of a schedule)
maps z through a sigmoid onto its bounds, in log space for scale parameters, so every z is a
valid setting; `Free()` (the learned drift's parameters) is the config's value plus z, unbounded.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from purejaxppo.base.errors import ConfigError
from purejaxppo.core.config import PPOConfig
from purejaxppo.search.space import Free, Range, Space, check_space, is_log

# The evosax strategies offered by name (each tested); other spellings people use map to them.
STRATEGIES = ("CMA_ES", "Sep_CMA_ES", "SNES", "xNES", "Open_ES")
ALIASES = {"OpenES": "Open_ES", "CMAES": "CMA_ES", "CMA-ES": "CMA_ES", "SepCMAES": "Sep_CMA_ES"}
# A start value is kept inside the middle 96% of its range, so that its z is finite.
EDGE = 0.02


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    size: int  # coordinates of z it takes
    shape: tuple[int, ...] = ()  # a Range field's value shape: () or (K,) for a schedule
    bounded: bool = True  # a Range (sigmoid onto low..high) or Free (start + z)
    low: float = 0.0  # bounds in the search scale (their logs for a log range)
    high: float = 1.0
    log: bool = False


@dataclasses.dataclass(frozen=True)
class Encoding:
    """Maps z [..., d] to the values of the searched fields (see the module docstring)."""

    fields: tuple[Field, ...]
    start: np.ndarray  # [d]: z of the config's own values (a Range's middle if outside it)
    offset: Any  # each Free field: (its config value raveled, the function that unravels it)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.fields)

    @staticmethod
    def of(config: PPOConfig, space: Space) -> Encoding:
        check_space(config, space, free=True)
        base = config.hparams
        fields, start, offset = [], [], {}
        for name, spec in space.items():
            value = getattr(base, name)
            if isinstance(spec, Free):
                flat, unravel = ravel_pytree(jax.tree.map(jnp.asarray, value))
                fields.append(Field(name, flat.size, bounded=False))
                offset[name] = (flat, unravel)
                start.append(np.zeros(flat.size, np.float32))
                continue
            if not isinstance(spec, Range):
                raise ConfigError(
                    f"space: {name}={spec!r}: an evolution strategy searches continuous ranges. "
                    f"Fix: give a Range, e.g. {name}=LOW:HIGH on the command line or "
                    "Range(low, high) in Python."
                )
            log = is_log(name, spec)
            scale = np.log if log else np.asarray
            field = Field(name, int(np.size(value)), np.shape(value), True,
                          float(scale(spec.low)), float(scale(spec.high)), log)  # fmt: skip
            fields.append(field)
            start.append(_logit_of(field, np.asarray(value, np.float64).reshape(-1)))
        return Encoding(tuple(fields), np.concatenate(start).astype(np.float32), offset)

    def decode(self, z: jax.Array) -> dict[str, Any]:
        values, position = {}, 0
        lead = z.shape[:-1]
        for field in self.fields:
            part = z[..., position : position + field.size]
            position += field.size
            if field.bounded:
                scaled = field.low + (field.high - field.low) * jax.nn.sigmoid(part)
                value = jnp.exp(scaled) if field.log else scaled
                values[field.name] = value.reshape(lead + field.shape)
                continue
            flat, unravel = self.offset[field.name]
            tree = jax.vmap(unravel)((flat + part).reshape(-1, field.size))
            values[field.name] = jax.tree.map(lambda x: x.reshape(lead + x.shape[1:]), tree)
        return values


def _logit_of(field: Field, values: np.ndarray) -> np.ndarray:
    scaled = np.log(np.maximum(values, 1e-30)) if field.log else values
    unit = (scaled - field.low) / (field.high - field.low)
    unit = np.where((unit >= 0) & (unit <= 1), np.clip(unit, EDGE, 1 - EDGE), 0.5)
    return np.log(unit / (1 - unit))


def make_strategy(
    name: str, population: int, dims: int, std_init: float, options: dict[str, Any] | None
) -> tuple[Any, Any]:
    """An evosax algorithm and its params, by name; std_init is in z units."""
    import optax
    from evosax.algorithms import distribution_based_algorithms

    name = ALIASES.get(name, name)
    if name not in STRATEGIES:
        raise ConfigError(
            f"strategy={name!r}: not one of the strategies offered. Fix: use one of "
            f"{', '.join(STRATEGIES)}."
        )
    if name == "Open_ES" and population % 2:
        raise ConfigError(
            f"population={population}: Open_ES samples antithetic pairs, so it needs an even "
            f"population. Fix: population={population + 1}."
        )
    options = dict(options or {})
    if name == "Open_ES":
        # evosax's default (SGD, step 1e-3) barely moves in the tens of generations a
        # hyperparameter search can afford; z is O(1), so a step of 0.1 is a sensible start.
        options.setdefault("optimizer", optax.adam(0.1))
        options.setdefault("std_schedule", optax.constant_schedule(std_init))
    algorithm = distribution_based_algorithms[name](
        population_size=population, solution=jnp.zeros(dims), **options
    )
    params = algorithm.default_params
    if hasattr(params, "std_init"):
        params = params.replace(std_init=jnp.asarray(std_init, jnp.float32))
    return algorithm, params


def to_minimise(fitness: jax.Array) -> jax.Array:
    """Negated fitness [P] for evosax (which minimises); NaN (diverged, or nothing to score)
    becomes a finite value worse than the worst finite one."""
    loss = -fitness
    finite = jnp.isfinite(loss)
    high = jnp.max(jnp.where(finite, loss, -jnp.inf))
    low = jnp.min(jnp.where(finite, loss, jnp.inf))
    worst = jnp.where(jnp.any(finite), high + 1.0 + (high - low), 0.0)
    return jnp.where(finite, loss, worst)
