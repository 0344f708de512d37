"""Environments: ids by name (`ids`), building any suite's env as a gymnax `Environment` and
stepping a batch with auto-reset (`registry`), and one adapter module per suite.

The bottom layer above `base`: it knows nothing of PPO. The registry's names are importable from
here (`from purejaxppo.envs import make_env`), loaded on first use so that importing the package
builds nothing."""

from __future__ import annotations

import importlib
from typing import Any

_REGISTRY = ("EnvSpec", "describe_env", "make_batched_step", "make_env")


def __getattr__(name: str) -> Any:
    if name not in _REGISTRY:
        raise AttributeError(f"module 'purejaxppo.envs' has no attribute {name!r}")
    return getattr(importlib.import_module("purejaxppo.envs.registry"), name)
