"""The package's shape: data flows one way (no import cycle, no module importing one above it),
short functions in modules of one job, and every public name means the same in every import
order."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "purejaxppo"

# Bottom to top: a module may import modules of its own layer (without a cycle) and of the layers
# before it, never one after it.
LAYERS = ["base", "envs", "core", "engine", "search", "outputs", "cli"]

# Orchestration reads as short functions over module-level pieces, as the core does.
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    """`purejaxppo/core/loss.py` -> `core.loss`; a package's `__init__.py` -> the package."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(p): p
    for p in sorted(PACKAGE.rglob("*.py"))
    if p.parent != PACKAGE  # the root: the public surface and the old names' aliases
}


def imports_of(path: Path) -> set[str]:
    """The purejaxppo modules that `path` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("purejaxppo")
        ):
            module = node.module.removeprefix("purejaxppo").lstrip(".")
            for alias in node.names:
                inner = f"{module}.{alias.name}".lstrip(".")
                found.add(inner if inner in MODULES else module)
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix("purejaxppo.")
                for a in node.names
                if a.name.startswith("purejaxppo.")
            )
    return found


def layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0]) if module else len(LAYERS)


def test_every_module_sits_in_a_layer():
    assert {m.split(".")[0] for m in MODULES} == set(LAYERS)
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "_moved.py"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_down(module):
    above = [m for m in imports_of(MODULES[module]) if layer(m) > layer(module)]
    assert not above, f"{module} imports {above}, which sit in a layer above it"


def test_no_import_cycle():
    graph = {m: imports_of(p) - {m} for m, p in MODULES.items()}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done or module not in graph:
            return
        for imported in sorted(graph[module]):
            visit(imported, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_400_lines(module):
    # Functions are capped at 80 lines (below), so a module past 400 holds more than one job.
    assert len(MODULES[module].read_text().splitlines()) <= 400


def test_functions_are_short():
    long = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE).as_posix()}:{node.name}"] = lines
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_old_module_names_still_import_with_a_warning():
    code = """
import warnings
warnings.simplefilter("always", DeprecationWarning)
with warnings.catch_warnings(record=True) as caught:
    from purejaxppo.trainer import make_train
    import purejaxppo.rundirs
    from purejaxppo.engine import run
import purejaxppo
from purejaxppo.core.trainer import make_train as new
from purejaxppo.engine.runner import run as new_run
assert make_train is new and run is new_run
assert purejaxppo.rundirs is __import__("purejaxppo.outputs.rundirs").outputs.rundirs
moved = [str(w.message) for w in caught if "moved to" in str(w.message)]
assert len(moved) == 3, moved
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


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


def test_the_public_names_are_written_once_for_runtime_and_for_type_checkers():
    import purejaxppo

    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If))  # if TYPE_CHECKING:
    typed = {a.name: n.module for n in block.body for a in n.names}
    assert typed == purejaxppo._EXPORTS
    assert purejaxppo.__all__ == sorted(typed)
