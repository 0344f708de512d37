"""Every batch of runs through one loop: the core's step vmapped over runs (`batched`), described
as a `Program`, and run by `runner.run` (sharded, chunked, compiled once, checkpointed, resumable),
with devices, memory estimates, interrupts and the progress display.

Imports `base`, `envs` and `core` only."""

from __future__ import annotations

import importlib
import warnings
from typing import Any


def __getattr__(name: str) -> Any:
    # `purejaxppo.engine` was the module now named `purejaxppo.engine.runner`; its names keep
    # working for one release.
    runner = importlib.import_module("purejaxppo.engine.runner")
    if name.startswith("__") or not hasattr(runner, name):
        raise AttributeError(f"module 'purejaxppo.engine' has no attribute {name!r}")
    warnings.warn(
        f"purejaxppo.engine.{name} moved to purejaxppo.engine.runner.{name}; the old name goes "
        "in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    value = globals()[name] = getattr(runner, name)  # warned once, like a module import
    return value
