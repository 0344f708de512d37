"""purejaxppo: PPO for gymnax environments as one jit-compiled pure JAX function.

Names are imported on first use, so that `purejaxppo.use_cpu_cores()` can still configure JAX's
CPU devices before anything (gymnax's import included) starts a JAX backend.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ConfigError": "purejaxppo.config",
    "HyperParams": "purejaxppo.config",
    "PPOConfig": "purejaxppo.config",
    "compute_gae": "purejaxppo.advantages",
    "TrainResult": "purejaxppo.trainer",
    "TrainState": "purejaxppo.trainer",
    "make_train": "purejaxppo.trainer",
    "make_train_functions": "purejaxppo.trainer",
    "RunResult": "purejaxppo.runner",
    "train": "purejaxppo.runner",
    "use_cpu_cores": "purejaxppo.devices",
    "final_returns": "purejaxppo.stats",
    "preset": "purejaxppo.presets",
    "Range": "purejaxppo.sweep",
    "SweepResult": "purejaxppo.sweep",
    "sweep": "purejaxppo.sweep",
    "PBTResult": "purejaxppo.pbt",
    "pbt": "purejaxppo.pbt",
    "mean_interval": "purejaxppo.stats",
}
__all__ = [
    "ConfigError",
    "HyperParams",
    "PBTResult",
    "PPOConfig",
    "Range",
    "RunResult",
    "SweepResult",
    "TrainResult",
    "TrainState",
    "compute_gae",
    "final_returns",
    "make_train",
    "make_train_functions",
    "mean_interval",
    "pbt",
    "preset",
    "sweep",
    "train",
    "use_cpu_cores",
]

if TYPE_CHECKING:
    from purejaxppo.advantages import compute_gae
    from purejaxppo.config import ConfigError, HyperParams, PPOConfig
    from purejaxppo.devices import use_cpu_cores
    from purejaxppo.pbt import PBTResult, pbt
    from purejaxppo.presets import preset
    from purejaxppo.runner import RunResult, train
    from purejaxppo.stats import final_returns, mean_interval
    from purejaxppo.sweep import Range, SweepResult, sweep
    from purejaxppo.trainer import TrainResult, TrainState, make_train, make_train_functions


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'purejaxppo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
