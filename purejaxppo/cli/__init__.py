"""The command line (`purejaxppo COMMAND`): options as tyro dataclasses (`options`), the training
commands (`commands`), eval/envs/bench (`inspection`, `bench`) and the entry point (`app.main`).

The top layer: it calls the library's public functions and nothing imports it."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name != "main":
        raise AttributeError(f"module 'purejaxppo.cli' has no attribute {name!r}")
    from purejaxppo.cli.app import main

    return main
