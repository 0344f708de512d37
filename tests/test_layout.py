"""The package's shape: data flows one way (no import cycle, no module importing one above it),
no module over 300 lines, and every public name means the same in every import order."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "purejaxppo"

# Bottom to top: a module may import only modules listed before it.
ORDER = [
    "errors", "logs", "devices", "memory", "tuning", "prng", "scores", "stats", "plots",
    "progress", "interrupt", "env_ids", "drift", "hparams", "config", "schedules", "presets",
    "space", "brax_env", "suite_env", "xminigrid_env", "xland_env", "craftax_env", "jumanji_env",
    "playground_env", "envs", "networks", "normalization", "rollout", "advantages", "loss",
    "update", "trainer", "checkpoint", "batched", "evaluation", "program", "engine", "runs",
    "sweeps", "population", "strategies", "evolution", "bench", "tracking", "rundirs", "results",
    "options", "preflight", "commands", "inspection", "cli",
]  # fmt: skip


def imports_of(path: Path) -> set[str]:
    """The purejaxppo modules that `path` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "purejaxppo":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("purejaxppo."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("purejaxppo."):
                    found.add(alias.name.split(".")[1])
    return found


MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def test_every_module_has_a_place_in_the_order():
    assert sorted(ORDER) == MODULES


@pytest.mark.parametrize("module", MODULES)
def test_imports_only_go_down(module):
    above = [
        m for m in imports_of(PACKAGE / f"{module}.py") if ORDER.index(m) >= ORDER.index(module)
    ]
    assert not above, f"{module} imports {above}, which sit above it (or it is a cycle)"


@pytest.mark.parametrize("module", MODULES)
def test_no_module_is_over_300_lines(module):
    assert len((PACKAGE / f"{module}.py").read_text().splitlines()) <= 300


README_NAMES = [
    "PPOConfig", "HyperParams", "make_train", "train", "sweep", "pbt", "evaluate", "Range",
    "preset", "load_final", "RunResult", "SweepResult", "PBTResult", "ConfigError",
]  # fmt: skip


@pytest.mark.parametrize("first", ["sweep", "pbt", "evaluate", "train", "Range"])
def test_public_names_mean_the_same_in_every_import_order(first):
    code = f"""
import inspect
from purejaxppo import {first}
import purejaxppo
for name in {README_NAMES!r}:
    value = getattr(purejaxppo, name)
    assert not inspect.ismodule(value), name
    assert callable(value), name
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
