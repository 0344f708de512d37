"""Search spaces over the traced hyperparameters, shared by sweeps, PBT and evolution strategies.

A space maps `HyperParams` names to a list of values or a `Range`. Scale parameters (learning
rate, coefficients, clip range, gradient norm) are searched in log space unless a `Range` says
otherwise; gamma and GAE lambda stay in [0, 1]. A schedule (`learning_rate_schedule`, ...) that
the config sets with K knots may be searched too: a `Range` applies to each knot, a list holds
whole schedules of K knots. The learned drift's parameters (`drift`) can only be searched by an
evolution strategy, as `Free()`: without bounds, around the config's value.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.base.errors import ConfigError, as_key, check_positive_int
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.hparams import HyperParams

# Scale parameters, searched log-uniformly by default.
LOG_SCALE_FIELDS = frozenset({"learning_rate", "ent_coef", "vf_coef", "max_grad_norm", "clip_eps"})
UNIT_INTERVAL_FIELDS = frozenset({"gamma", "gae_lambda"})


@dataclasses.dataclass(frozen=True)
class Range:
    """A continuous range; `log=None` picks log-uniform for scale parameters."""

    low: float
    high: float
    log: bool | None = None


@dataclasses.dataclass(frozen=True)
class Free:
    """Searched without bounds around the config's value (evolution strategies only)."""


SpaceValue = Sequence[float] | Sequence[Sequence[float]] | Range | Free
Space = Mapping[str, SpaceValue]


def knots_of(config: PPOConfig, name: str) -> int | None:
    """K for a schedule field the config sets, None for a scalar field."""
    if name not in HyperParams.schedule_names():
        return None
    knots = getattr(config, name)
    if knots is None:
        raise ConfigError(
            f"space: {name!r} is searched, but the config has no {name}, so its number of knots "
            f"is unknown. Fix: set it in the config, e.g. {name}=(1.0, 1.0, 1.0) for three knots"
            + (" and anneal_lr=False." if name == "learning_rate_schedule" else ".")
        )
    return len(knots)


def columns(name: str, values: np.ndarray, ndim: int) -> dict[str, np.ndarray]:
    """Table columns of one searched field whose values have `ndim` leading axes: the field
    itself, or one column `name[k]` per knot of a schedule."""
    values = np.asarray(values)
    if values.ndim == ndim:
        return {name: values}
    return {f"{name}[{k}]": values[..., k] for k in range(values.shape[-1])}


def is_log(name: str, value: SpaceValue) -> bool:
    """Whether `name` is searched in log space: a Range's own choice, else by LOG_SCALE_FIELDS."""
    if isinstance(value, Range) and value.log is not None:
        return value.log
    return name in LOG_SCALE_FIELDS


def parse_space(entries: tuple[str, ...]) -> dict[str, SpaceValue]:
    """A space from command-line text: `NAME=v1,v2` -> a list of values, `NAME=LOW:HIGH` (with
    `:log` or `:linear` optionally) -> a Range, `NAME=1/0.5/0,1/1/1` -> whole schedules,
    `drift=free` -> the learned drift's parameters, without bounds (evolution strategies)."""
    space: dict[str, SpaceValue] = {}
    for entry in entries:
        name, sep, text = entry.partition("=")
        if name in space:
            raise ConfigError(
                f"--space {entry!r}: {name} is given twice. Fix: one --space entry per field "
                f"(several values as {name}=v1,v2,...)."
            )
        try:
            if not sep:
                raise ValueError
            if name == "drift" and text == "free":
                space[name] = Free()
            elif ":" in text:
                parts = text.split(":")
                if len(parts) not in (2, 3):
                    raise ValueError
                log = {"log": True, "linear": False}[parts[2]] if len(parts) == 3 else None
                space[name] = Range(float(parts[0]), float(parts[1]), log)
            elif "/" in text:
                space[name] = [tuple(map(float, v.split("/"))) for v in text.split(",")]
            else:
                space[name] = [float(v) for v in text.split(",")]
        except (ValueError, KeyError):
            raise ConfigError(
                f"--space {entry!r}: cannot read it. Fix: NAME=v1,v2,... or NAME=LOW:HIGH "
                "(optionally :log or :linear), e.g. learning_rate=1e-4,3e-4."
            ) from None
    return space


def check_space(config: PPOConfig, space: Space, free: bool = False) -> None:
    """Raise ConfigError unless every entry names a traced field with valid values; `Free`
    entries (the drift's parameters) only where `free` (an evolution strategy)."""
    if not space:
        raise ConfigError("space is empty. Fix: e.g. learning_rate=1e-4,3e-4 (a list of values).")
    traced = (*HyperParams.names(), *HyperParams.schedule_names())
    static = {f.name for f in dataclasses.fields(PPOConfig)} - set(traced)
    for name, values in space.items():
        if name == "drift":
            if not free or not isinstance(values, Free):
                raise ConfigError(
                    "space: 'drift' (the learned drift's parameters) has no range to sample. "
                    "Fix: search it with an evolution strategy, purejaxppo.es(config, "
                    "{'drift': Free()}), with config.objective='learned_drift'."
                )
            if config.objective != "learned_drift":
                raise ConfigError(
                    "space: 'drift' is searched, but config.objective is 'clip'. Fix: "
                    "PPOConfig(objective='learned_drift')."
                )
            continue
        if name in static:
            raise ConfigError(
                f"space: {name!r} is a static field of PPOConfig (it fixes shapes or loop "
                "counts), so it cannot vary inside one compiled call. Fix: search the traced "
                f"fields only ({', '.join(traced)}) and run one search per value of {name}."
            )
        if name not in traced:
            raise ConfigError(
                f"space: {name!r} is not a hyperparameter. Fix: use some of {', '.join(traced)}."
            )
        knots = knots_of(config, name)
        if isinstance(values, Range):
            log = is_log(name, values)
            if not values.low < values.high or (log and values.low <= 0):
                also = ", and low > 0 for a log range (or log=False)" if log else ""
                raise ConfigError(
                    f"space: {name}={values!r} is not a valid range. Fix: low < high{also}."
                )
            for bound in (values.low, values.high):
                value = float(bound) if knots is None else (float(bound),) * knots
                config.replace(**{name: value})  # raises the config's own range error
        elif isinstance(values, Free):
            raise ConfigError(
                f"space: {name}=Free(): only the drift is searched without bounds. Fix: give "
                f"{name} a Range or a list of values."
            )
        elif isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ConfigError(
                f"space: {name}={values!r} must be a non-empty list of values or a Range. "
                f"Fix: e.g. {name}=v1,v2 or {name}=LOW:HIGH."
            )
        elif knots is not None and any(np.shape(v) != (knots,) for v in values):
            raise ConfigError(
                f"space: {name}={values!r}: each value must be a whole schedule of {knots} "
                f"knots, as the config's {name}. Fix: e.g. {name}=1/0.5/0,1/1/1 on the command "
                "line, or [(1, 0.5, 0), (1, 1, 1)] in Python."
            )


def sample_settings(
    config: PPOConfig,
    space: Space,
    mode: Literal["grid", "random"] = "grid",
    num_samples: int | None = None,
    key: jax.Array | int = 0,
) -> list[dict[str, float]]:
    """The values of each setting, in order (grid: the first field varies slowest)."""
    check_space(config, space)
    names = list(space)
    if mode == "grid":
        ranged = [n for n in names if isinstance(space[n], Range)]
        if ranged:
            raise ConfigError(
                f"space: {ranged[0]} is a Range, which a grid cannot enumerate. Fix: give it a "
                "list of values (e.g. np.geomspace(1e-4, 1e-2, 5)) or use mode='random'."
            )
        combos = itertools.product(*(space[n] for n in names))
        settings = [{n: _value(v) for n, v in zip(names, combo, strict=True)} for combo in combos]
    elif mode == "random":
        check_positive_int("num_samples", num_samples, 16)
        seed = int(jax.random.randint(as_key(key), (), 0, np.iinfo(np.int32).max))
        rng = np.random.default_rng(seed)
        drawn = {}
        for name in names:
            values = space[name]
            shape = (num_samples,) + ((knots,) if (knots := knots_of(config, name)) else ())
            if isinstance(values, Range):
                low, high = values.low, values.high
                if is_log(name, values):
                    drawn[name] = np.exp(rng.uniform(np.log(low), np.log(high), shape))
                else:
                    drawn[name] = rng.uniform(low, high, shape)
            else:
                choices = np.asarray(values, np.float64)
                drawn[name] = choices[rng.integers(0, len(choices), num_samples)]
        settings = [{n: _value(drawn[n][i]) for n in names} for i in range(num_samples)]
    else:
        raise ConfigError(f"mode={mode!r}: unknown search mode. Fix: use grid or random.")
    for values in settings:
        config.replace(**values)  # every setting must be a valid config
    if mode == "grid" and num_samples is not None:
        raise ConfigError(
            f"num_samples={num_samples!r}: a grid takes every combination, so it draws no "
            "samples. Fix: leave num_samples unset, or use mode='random' (--mode random)."
        )
    return settings


def _value(value: object) -> float | tuple[float, ...]:
    """A setting's value of one field: a float, or a schedule's knots as a tuple."""
    array = np.asarray(value, np.float64)
    return float(array) if array.ndim == 0 else tuple(float(v) for v in array)


def stack_settings(config: PPOConfig, settings: list[dict[str, float]]) -> HyperParams:
    """The config's hyperparameters with each setting's values, stacked: leaves [S]."""
    return HyperParams.stack([config.replace(**values).hparams for values in settings])


def explore(
    key: jax.Array,
    name: str,
    value: jax.Array,
    spec: SpaceValue,
    factors: Sequence[float],
    resample_probability: float,
) -> jax.Array:
    """PBT's explore step for one field (traced): `value` [P] (a schedule: [P, K], each knot on
    its own) times a random factor, or with probability `resample_probability` a fresh draw from
    `spec`; it never leaves `spec` (a Range's bounds, or the span of a list's values) nor, for
    gamma and lambda, [0, 1]."""
    perturb_key, choice_key, resample_key = jax.random.split(key, 3)
    factors = jnp.asarray(factors, jnp.float32)
    perturbed = value * factors[jax.random.randint(perturb_key, value.shape, 0, len(factors))]
    if isinstance(spec, Range):
        if is_log(name, spec):
            low, high = np.log(spec.low), np.log(spec.high)
            fresh = jnp.exp(jax.random.uniform(resample_key, value.shape, minval=low, maxval=high))
        else:
            fresh = jax.random.uniform(resample_key, value.shape, minval=spec.low, maxval=spec.high)
    else:
        choices = jnp.asarray(spec, jnp.float32)  # [C] values, or [C, K] whole schedules
        picks = value.shape[: value.ndim - (choices.ndim - 1)]
        fresh = choices[jax.random.randint(resample_key, picks, 0, choices.shape[0])]
    resample = jax.random.uniform(choice_key, value.shape) < resample_probability
    new = jnp.where(resample, fresh, perturbed)
    if isinstance(spec, Range):
        new = jnp.clip(new, spec.low, spec.high)
    else:
        new = jnp.clip(new, np.min(spec), np.max(spec))
    if name in UNIT_INTERVAL_FIELDS:
        new = jnp.clip(new, 0.0, 1.0)
    return new.astype(jnp.float32)
