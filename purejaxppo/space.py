"""Search spaces over the traced hyperparameters, shared by sweeps, PBT and evolution strategies.

A space maps `HyperParams` names to a list of values or a `Range`. Scale parameters (learning
rate, coefficients, clip range, gradient norm) are searched in log space unless a `Range` says
otherwise; gamma and GAE lambda stay in [0, 1].
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.config import HyperParams, PPOConfig
from purejaxppo.errors import ConfigError, as_key, check_positive_int

# Scale parameters, searched log-uniformly by default.
LOG_SCALE_FIELDS = frozenset({"learning_rate", "ent_coef", "vf_coef", "max_grad_norm", "clip_eps"})
UNIT_INTERVAL_FIELDS = frozenset({"gamma", "gae_lambda"})


@dataclasses.dataclass(frozen=True)
class Range:
    """A continuous range; `log=None` picks log-uniform for scale parameters."""

    low: float
    high: float
    log: bool | None = None


SpaceValue = Sequence[float] | Range
Space = Mapping[str, SpaceValue]


def is_log(name: str, value: SpaceValue) -> bool:
    """Whether `name` is searched in log space: a Range's own choice, else by LOG_SCALE_FIELDS."""
    if isinstance(value, Range) and value.log is not None:
        return value.log
    return name in LOG_SCALE_FIELDS


def parse_space(entries: tuple[str, ...]) -> dict[str, SpaceValue]:
    """A space from command-line text: `NAME=v1,v2` -> a list of values, `NAME=LOW:HIGH` (with
    `:log` or `:linear` optionally) -> a Range."""
    space: dict[str, SpaceValue] = {}
    for entry in entries:
        name, sep, text = entry.partition("=")
        try:
            if not sep:
                raise ValueError
            if ":" in text:
                parts = text.split(":")
                if len(parts) not in (2, 3):
                    raise ValueError
                log = {"log": True, "linear": False}[parts[2]] if len(parts) == 3 else None
                space[name] = Range(float(parts[0]), float(parts[1]), log)
            else:
                space[name] = [float(v) for v in text.split(",")]
        except (ValueError, KeyError):
            raise ConfigError(
                f"--space {entry!r}: cannot read it. Fix: NAME=v1,v2,... or NAME=LOW:HIGH "
                "(optionally :log or :linear), e.g. learning_rate=1e-4,3e-4."
            ) from None
    return space


def check_space(config: PPOConfig, space: Space) -> None:
    """Raise ConfigError unless every entry names a traced field with valid values."""
    if not space:
        raise ConfigError("space is empty. Fix: e.g. learning_rate=1e-4,3e-4 (a list of values).")
    traced = HyperParams.names()
    static = {f.name for f in dataclasses.fields(PPOConfig)} - set(traced)
    for name, values in space.items():
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
        if isinstance(values, Range):
            log = is_log(name, values)
            if not values.low < values.high or (log and values.low <= 0):
                also = ", and low > 0 for a log range (or log=False)" if log else ""
                raise ConfigError(
                    f"space: {name}={values!r} is not a valid range. Fix: low < high{also}."
                )
            for bound in (values.low, values.high):
                config.replace(**{name: float(bound)})  # raises the config's own range error
        elif isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ConfigError(
                f"space: {name}={values!r} must be a non-empty list of values or a Range. "
                f"Fix: e.g. {name}=v1,v2 or {name}=LOW:HIGH."
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
        settings = [dict(zip(names, map(float, combo), strict=True)) for combo in combos]
    elif mode == "random":
        check_positive_int("num_samples", num_samples, 16)
        seed = int(jax.random.randint(as_key(key), (), 0, np.iinfo(np.int32).max))
        rng = np.random.default_rng(seed)
        columns = {}
        for name in names:
            values = space[name]
            if isinstance(values, Range):
                low, high = values.low, values.high
                if is_log(name, values):
                    columns[name] = np.exp(rng.uniform(np.log(low), np.log(high), num_samples))
                else:
                    columns[name] = rng.uniform(low, high, num_samples)
            else:
                columns[name] = rng.choice(np.asarray(values, np.float64), num_samples)
        settings = [{n: float(columns[n][i]) for n in names} for i in range(num_samples)]
    else:
        raise ConfigError(f"mode={mode!r}: unknown search mode. Fix: use grid or random.")
    for values in settings:
        config.replace(**values)  # every setting must be a valid config
    return settings


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
    """PBT's explore step for one field (traced): `value` [P] times a random factor, or with
    probability `resample_probability` a fresh draw from `spec`; gamma and lambda stay in [0, 1]."""
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
        choices = jnp.asarray(spec, jnp.float32)
        fresh = choices[jax.random.randint(resample_key, value.shape, 0, choices.shape[0])]
    resample = jax.random.uniform(choice_key, value.shape) < resample_probability
    new = jnp.where(resample, fresh, perturbed)
    if name in UNIT_INTERVAL_FIELDS:
        new = jnp.clip(new, 0.0, 1.0)
    return new.astype(jnp.float32)
