"""Tuned settings per environment, kept as data in presets.json, with what they reach.

Each entry: `config` (PPOConfig fields; `total_timesteps` is the budget), `reference` (a
published return and its source, if any) and `measured` (our final return: mean over seeds of
each run's last 5% of updates, with its 95% interval, seeds, device and how; null until measured
— `benchmarks/returns.py` measures them).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from importlib import resources
from typing import Any

from purejaxppo.config import ConfigError, PPOConfig


@dataclasses.dataclass(frozen=True)
class Preset:
    env_id: str
    config: dict[str, Any]
    reference: dict[str, str] | None
    measured: dict[str, Any] | None
    note: str | None = None

    @property
    def budget(self) -> int:
        return int(self.config.get("total_timesteps", PPOConfig.total_timesteps))

    def describe(self) -> str:
        ours = (
            f"{self.measured['final_return']:.1f} ({self.measured['seeds']} seeds)"
            if self.measured
            else "not measured yet"
        )
        ref = f", reference {self.reference['return']}" if self.reference else ""
        return f"{self.budget:.0e} steps: {ours}{ref}"


@functools.cache
def load_presets() -> dict[str, Preset]:
    text = resources.files("purejaxppo").joinpath("presets.json").read_text()
    return {env_id: Preset(env_id, **entry) for env_id, entry in json.loads(text).items()}


PRESETS = load_presets()


def preset(name: str, **overrides: Any) -> PPOConfig:
    """The `PPOConfig` of preset `name` (an env id), with `overrides` applied on top."""
    if name not in PRESETS:
        raise ConfigError(
            f"preset={name!r}: no such preset. Fix: use one of {', '.join(PRESETS)}, "
            "or build a PPOConfig directly."
        )
    return PPOConfig(**{**PRESETS[name].config, **overrides})
