"""The modules' names before the package was split into layers (one release of grace).

`import purejaxppo.runs` (or `from purejaxppo.trainer import make_train`) still works: a finder on
`sys.meta_path` answers each old name with the module it became, after a DeprecationWarning that
names the new path. Only names below are answered; everything else is left to the normal import.
(`purejaxppo.envs`, `.engine` and `.cli` became packages of the same name, which answer their old
names themselves.)
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

MOVED = {
    "errors": "base.errors",
    "logs": "base.logs",
    "prng": "base.prng",
    "env_ids": "envs.ids",
    "suite_env": "envs.suite",
    "brax_env": "envs.brax",
    "xminigrid_env": "envs.xminigrid",
    "xland_env": "envs.xland",
    "craftax_env": "envs.craftax",
    "jumanji_env": "envs.jumanji",
    "playground_env": "envs.playground",
    "hparams": "core.hparams",
    "drift": "core.drift",
    "config": "core.config",
    "schedules": "core.schedules",
    "tuning": "core.tuning",
    "presets": "core.presets",
    "networks": "core.networks",
    "normalization": "core.normalization",
    "rollout": "core.rollout",
    "advantages": "core.gae",
    "loss": "core.loss",
    "update": "core.update",
    "trainer": "core.trainer",
    "evaluation": "core.evaluation",
    "devices": "engine.devices",
    "memory": "engine.memory",
    "progress": "engine.progress",
    "interrupt": "engine.interrupt",
    "checkpoint": "engine.checkpoint",
    "program": "engine.program",
    "batched": "engine.batched",
    "scores": "search.scores",
    "stats": "search.stats",
    "space": "search.space",
    "strategies": "search.strategies",
    "runs": "search.train",
    "sweeps": "search.sweep",
    "population": "search.pbt",
    "evolution": "search.es",
    "plots": "outputs.plots",
    "tracking": "outputs.tracking",
    "rundirs": "outputs.rundirs",
    "results": "outputs.results",
    "preflight": "outputs.preflight",
    "options": "cli.options",
    "commands": "cli.commands",
    "inspection": "cli.inspection",
    "bench": "cli.bench",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        warnings.warn(
            f"{module.__name__} moved to {self.target}; the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        # The import system returns whatever sys.modules holds under the name after exec_module,
        # so the old name becomes the new module itself (one object, patched in one place).
        sys.modules[module.__name__] = importlib.import_module(self.target)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != "purejaxppo" or name not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(f"purejaxppo.{MOVED[name]}"))


def install() -> None:
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.append(_Finder())
