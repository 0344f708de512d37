"""purejaxppo: PPO for JAX environments as one jit-compiled pure function.

Names are imported on first use, so that `purejaxppo.use_cpu_cores()` can still configure JAX's
CPU devices before anything (gymnax's import included) starts a JAX backend. No module of the
package is named like one of these functions, so each name means the same in every import order.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ConfigError": "purejaxppo.errors",
    "HyperParams": "purejaxppo.hparams",
    "PPOConfig": "purejaxppo.config",
    "compute_gae": "purejaxppo.advantages",
    "TrainResult": "purejaxppo.trainer",
    "TrainState": "purejaxppo.trainer",
    "make_train": "purejaxppo.trainer",
    "make_train_functions": "purejaxppo.trainer",
    "Tuning": "purejaxppo.tuning",
    "RunResult": "purejaxppo.runs",
    "train": "purejaxppo.runs",
    "use_cpu_cores": "purejaxppo.devices",
    "final_returns": "purejaxppo.stats",
    "mean_interval": "purejaxppo.stats",
    "preset": "purejaxppo.presets",
    "Range": "purejaxppo.space",
    "SweepResult": "purejaxppo.sweeps",
    "sweep": "purejaxppo.sweeps",
    "PBTResult": "purejaxppo.population",
    "pbt": "purejaxppo.population",
    "EvalResult": "purejaxppo.evaluation",
    "evaluate": "purejaxppo.evaluation",
    "load_final": "purejaxppo.rundirs",
    "ESResult": "purejaxppo.evolution",
    "es": "purejaxppo.evolution",
    "Free": "purejaxppo.space",
}
__all__ = [
    "ConfigError",
    "ESResult",
    "EvalResult",
    "Free",
    "HyperParams",
    "PBTResult",
    "PPOConfig",
    "Range",
    "RunResult",
    "SweepResult",
    "TrainResult",
    "TrainState",
    "Tuning",
    "compute_gae",
    "es",
    "evaluate",
    "final_returns",
    "load_final",
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
    from purejaxppo.config import PPOConfig
    from purejaxppo.devices import use_cpu_cores
    from purejaxppo.errors import ConfigError
    from purejaxppo.evaluation import EvalResult, evaluate
    from purejaxppo.evolution import ESResult, es
    from purejaxppo.hparams import HyperParams
    from purejaxppo.population import PBTResult, pbt
    from purejaxppo.presets import preset
    from purejaxppo.rundirs import load_final
    from purejaxppo.runs import RunResult, train
    from purejaxppo.space import Free, Range
    from purejaxppo.stats import final_returns, mean_interval
    from purejaxppo.sweeps import SweepResult, sweep
    from purejaxppo.trainer import TrainResult, TrainState, make_train, make_train_functions
    from purejaxppo.tuning import Tuning


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'purejaxppo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
