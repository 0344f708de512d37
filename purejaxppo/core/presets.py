"""Tuned settings per environment, kept as package data in presets.json (inputs only).

Each entry: `config` (PPOConfig fields; `total_timesteps` is the budget), `reference` (a
published return and its source, if any) and a `note`. What a preset reaches is measured by
`benchmarks/returns.py` and recorded in benchmarks/results/ and BENCHMARKS.md, not here.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from importlib import resources
from typing import Any

from purejaxppo.base.errors import ConfigError
from purejaxppo.core.config import PPOConfig
from purejaxppo.envs.ids import canonical_env_id


@dataclasses.dataclass(frozen=True)
class Preset:
    env_id: str
    config: dict[str, Any]
    reference: dict[str, Any] | None
    note: str | None = None

    @property
    def budget(self) -> int:
        return int(self.config.get("total_timesteps", PPOConfig.total_timesteps))

    def describe(self) -> str:
        ref = f", reference {self.reference['return']}" if self.reference else ""
        return f"{self.budget:.0e} steps{ref}"


@functools.cache
def load_presets() -> dict[str, Preset]:
    text = resources.files("purejaxppo.core").joinpath("presets.json").read_text()
    return {env_id: Preset(env_id, **entry) for env_id, entry in json.loads(text).items()}


PRESETS = load_presets()


def preset(name: str, **overrides: Any) -> PPOConfig:
    """The `PPOConfig` of preset `name` (an env id), with `overrides` applied on top.

    A MuJoCo Playground locomotion or manipulation task without an entry of its own gets the
    PPO settings Playground publishes for it (`envs.playground.published_config`), its
    privileged critic's observation keys included; they need the playground extra."""
    name = canonical_env_id(name)
    published = _playground_published(name)
    if published is not None:
        return PPOConfig(**{**published, **overrides})
    if name not in PRESETS:
        raise ConfigError(
            f"preset={name!r}: no such preset. Fix: use one of {', '.join(PRESETS)}, "
            "a MuJoCo Playground locomotion or manipulation task (playground:NAME), or build "
            "a PPOConfig directly."
        )
    return PPOConfig(**{**PRESETS[name].config, **overrides})


def _playground_published(name: str) -> dict[str, Any] | None:
    prefix, _, task = name.partition(":")
    if prefix != "playground" or name in PRESETS:
        return None
    from purejaxppo.envs.playground import published_config  # needs the extra: on demand

    return published_config(task)
