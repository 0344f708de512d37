"""The library's extension points on the command line: `--network-module`, `--objective-function`
and `--randomize` name Python objects as MODULE:NAME (`mypkg.nets:Transformer`, or a file's
module `nets:Transformer` in the working directory), imported when the command starts. run.json
records the names, so `resume` and `eval` import the same objects again.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

from purejaxppo.base.errors import ConfigError

FLAGS = {
    "network": "network_module",
    "objective": "objective_function",
    "randomize": "randomize",
}  # library argument -> command field


def load(spec: str, flag: str) -> Any:
    """The object `spec` (MODULE:NAME) names; a class is instantiated with no arguments."""
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise ConfigError(
            f"--{flag}={spec!r}: expected MODULE:NAME. Fix: e.g. --{flag} mypkg.nets:Wide."
        )
    cwd = str(Path.cwd())
    if cwd not in sys.path:  # a module file next to where the command runs
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"--{flag}={spec!r}: cannot import {module_name} ({error}). Fix: run from the "
            "directory that holds it, or install its package."
        ) from error
    if not hasattr(module, name):
        raise ConfigError(f"--{flag}={spec!r}: {module_name} has no {name}. Fix: check the name.")
    value = getattr(module, name)
    return value() if inspect.isclass(value) else value


def hooks(command: Any) -> dict[str, Any]:
    """The library's keyword arguments (network=, objective=, randomize=) the command names."""
    found = {}
    for argument, field in FLAGS.items():
        spec = getattr(command, field, None)
        if spec is not None:
            found[argument] = load(spec, field.replace("_", "-"))
    return found
