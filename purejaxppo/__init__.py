"""purejaxppo: PPO for JAX environments as one jit-compiled pure function.

The package is built in layers, each a subpackage that imports only the ones before it:
`base` (errors, logs, keys) -> `envs` (ids, registry, suite adapters) -> `core` (one run as a
pure function) -> `engine` (every batch of runs through one compiled, checkpointed loop) ->
`search` (train, sweep, pbt, es and their scores) -> `outputs` (run directories, figures,
tracking) -> `cli`. The names below are the public surface; they are imported on first use, so
that `purejaxppo.use_cpu_cores()` can still configure JAX's CPU devices before anything (gymnax's
import included) starts a JAX backend. No subpackage is named like one of these functions, so
each name means the same in every import order.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from purejaxppo import _moved

__version__ = "0.1.0"

_moved.install()

_EXPORTS = {
    "ConfigError": "purejaxppo.base.errors",
    "HyperParams": "purejaxppo.core.hparams",
    "PPOConfig": "purejaxppo.core.config",
    "compute_gae": "purejaxppo.core.gae",
    "TrainResult": "purejaxppo.core.trainer",
    "TrainState": "purejaxppo.core.trainer",
    "make_train": "purejaxppo.core.trainer",
    "make_train_functions": "purejaxppo.core.trainer",
    "Tuning": "purejaxppo.core.tuning",
    "RunResult": "purejaxppo.search.train",
    "train": "purejaxppo.search.train",
    "use_cpu_cores": "purejaxppo.engine.devices",
    "final_returns": "purejaxppo.search.stats",
    "mean_interval": "purejaxppo.search.stats",
    "preset": "purejaxppo.core.presets",
    "Range": "purejaxppo.search.space",
    "SweepResult": "purejaxppo.search.sweep",
    "sweep": "purejaxppo.search.sweep",
    "PBTResult": "purejaxppo.search.pbt",
    "pbt": "purejaxppo.search.pbt",
    "EvalResult": "purejaxppo.core.evaluation",
    "evaluate": "purejaxppo.core.evaluation",
    "load_final": "purejaxppo.outputs.rundirs",
    "report": "purejaxppo.outputs.report",
    "ESResult": "purejaxppo.search.es",
    "es": "purejaxppo.search.es",
    "Free": "purejaxppo.search.space",
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
    "report",
    "sweep",
    "train",
    "use_cpu_cores",
]

# The same names for ruff (a literal __all__) and for type checkers and IDEs; a test keeps the
# three equal.
if TYPE_CHECKING:
    from purejaxppo.base.errors import ConfigError
    from purejaxppo.core.config import PPOConfig
    from purejaxppo.core.evaluation import EvalResult, evaluate
    from purejaxppo.core.gae import compute_gae
    from purejaxppo.core.hparams import HyperParams
    from purejaxppo.core.presets import preset
    from purejaxppo.core.trainer import TrainResult, TrainState, make_train, make_train_functions
    from purejaxppo.core.tuning import Tuning
    from purejaxppo.engine.devices import use_cpu_cores
    from purejaxppo.outputs.report import report
    from purejaxppo.outputs.rundirs import load_final
    from purejaxppo.search.es import ESResult, es
    from purejaxppo.search.pbt import PBTResult, pbt
    from purejaxppo.search.space import Free, Range
    from purejaxppo.search.stats import final_returns, mean_interval
    from purejaxppo.search.sweep import SweepResult, sweep
    from purejaxppo.search.train import RunResult, train


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'purejaxppo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
