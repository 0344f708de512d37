"""The traced hyperparameters: a pytree that `train` takes as an argument, so `jax.vmap` over it
sweeps hyperparameters without recompiling. `PPOConfig.hparams` gives a config's values."""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import numpy as np
from flax import struct

from purejaxppo.base.errors import ConfigError

# Each traced scalar's valid values: (low, low included, high, the fix to suggest). The config
# checks its own values against these when it is built; `check_values` checks traced values on
# the host, before any work, wherever they come from (a user's HyperParams, a sweep, PBT).
RANGES = {
    "learning_rate": (0.0, False, np.inf, "a positive step size such as 2.5e-4"),
    "gamma": (0.0, True, 1.0, "a discount in [0, 1]"),
    "gae_lambda": (0.0, True, 1.0, "a GAE lambda in [0, 1]"),
    "clip_eps": (0.0, False, np.inf, "a positive clip range such as 0.2"),
    "ent_coef": (0.0, True, np.inf, "a coefficient >= 0"),
    "vf_coef": (0.0, True, np.inf, "a coefficient >= 0"),
    "max_grad_norm": (0.0, False, np.inf, "a positive norm such as 0.5"),
}


def range_problem(name: str, value: float) -> str | None:
    """Why `value` cannot be traced field `name` ("must be in [0, 1]"), or None if it can."""
    low, low_inclusive, high, _ = RANGES[name]
    if not np.isfinite(value):
        return "must be a finite number"
    if (value < low if low_inclusive else value <= low) or value > high:
        if np.isfinite(high):
            return f"must be in [{low:g}, {high:g}]"
        return f"must be >= {low:g}" if low_inclusive else f"must be > {low:g}"
    return None


# Traced fields that may follow a schedule over training (`<name>_schedule`).
SCHEDULED = ("learning_rate", "ent_coef", "clip_eps")
Objective = Literal["clip", "learned_drift"]


@struct.dataclass
class HyperParams:
    """Traced hyperparameters: float32 scalars (or a batch of them under vmap), plus the optional
    schedules ([K] multipliers of their field at K evenly spaced points of training, linearly
    interpolated) and the learned drift's parameters (`purejaxppo.core.drift`). An optional leaf is
    None when the config does not use it, so its presence is part of the static structure."""

    learning_rate: np.ndarray
    gamma: np.ndarray
    gae_lambda: np.ndarray
    clip_eps: np.ndarray
    ent_coef: np.ndarray
    vf_coef: np.ndarray
    max_grad_norm: np.ndarray
    learning_rate_schedule: np.ndarray | None = None
    ent_coef_schedule: np.ndarray | None = None
    clip_eps_schedule: np.ndarray | None = None
    drift: dict[str, np.ndarray] | None = None

    @staticmethod
    def names() -> tuple[str, ...]:
        """The traced scalar hyperparameters, in order: the one list of them in the package."""
        return tuple(f.name for f in dataclasses.fields(HyperParams))[:7]

    @staticmethod
    def schedule_names() -> tuple[str, ...]:
        return tuple(f"{name}_schedule" for name in SCHEDULED)

    @staticmethod
    def stack(hparams: list[HyperParams]) -> HyperParams:
        """Stack `HyperParams` on a new leading axis, for `vmap(train, in_axes=(None, 0))`."""
        if not hparams:
            raise ConfigError("HyperParams.stack needs at least one HyperParams. Fix: pass some.")
        fields = {}
        for field in dataclasses.fields(HyperParams):
            values = [getattr(h, field.name) for h in hparams]
            if all(v is None for v in values):
                fields[field.name] = None
                continue
            if any(v is None for v in values):
                raise ConfigError(
                    f"HyperParams.stack: {field.name} is set in some and None in others. Fix: "
                    "build every one from configs that use the same schedules and objective."
                )
            fields[field.name] = jax.tree.map(
                lambda *xs: np.stack([np.asarray(x, np.float32) for x in xs]), *values
            )
        return HyperParams(**fields)


def check_values(hparams: object, field: str = "hparams") -> None:
    """Raise ConfigError unless `hparams` is a `HyperParams` whose concrete values (scalars or
    batches) are all valid: a negative learning rate would train silently otherwise."""
    if not isinstance(hparams, HyperParams):
        raise ConfigError(
            f"{field}: a {type(hparams).__name__}, not a HyperParams. Fix: config.hparams, "
            "config.replace(...).hparams, or HyperParams.stack([...]) for several settings."
        )
    for name in HyperParams.names():
        values = np.atleast_1d(np.asarray(getattr(hparams, name), np.float64)).reshape(-1)
        for index, value in enumerate(values):
            problem = range_problem(name, float(value))
            if problem is not None:
                where = f"[{index}]" if values.size > 1 else ""
                fix = RANGES[name][3]
                raise ConfigError(f"{field}.{name}{where}={value:g}: {problem}. Fix: use {fix}.")
    for name in (*HyperParams.schedule_names(), "drift"):
        for leaf in jax.tree.leaves(getattr(hparams, name)):
            if not np.all(np.isfinite(np.asarray(leaf, np.float64))):
                raise ConfigError(f"{field}.{name}: holds a non-finite value. Fix: finite values.")
