"""The traced hyperparameters: a pytree that `train` takes as an argument, so `jax.vmap` over it
sweeps hyperparameters without recompiling. `PPOConfig.hparams` gives a config's values."""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import numpy as np
from flax import struct

from purejaxppo.errors import ConfigError

# Traced fields that may follow a schedule over training (`<name>_schedule`).
SCHEDULED = ("learning_rate", "ent_coef", "clip_eps")
Objective = Literal["clip", "learned_drift"]


@struct.dataclass
class HyperParams:
    """Traced hyperparameters: float32 scalars (or a batch of them under vmap), plus the optional
    schedules ([K] multipliers of their field at K evenly spaced points of training, linearly
    interpolated) and the learned drift's parameters (`purejaxppo.drift`). An optional leaf is
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
