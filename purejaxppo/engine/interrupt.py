"""Stopping a long loop cleanly: Ctrl-C or SIGTERM (what a scheduler sends before it kills a job)
ask the loop to stop at its next boundary, where it saves a checkpoint and raises `Interrupted`."""

from __future__ import annotations

import signal
import threading
from typing import Any


class Interrupted(KeyboardInterrupt):
    """Stopped by Ctrl-C or SIGTERM: at a segment boundary after saving a checkpoint
    (`saved`), or at once by a second signal (the previous checkpoint stays as it was)."""

    def __init__(self, signum: int, saved: bool = True) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.saved = saved


class StopRequest:
    """While active, SIGINT and SIGTERM only ask the loop to stop at the next segment boundary,
    so that the checkpoint it saves is consistent; a second signal interrupts at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise Interrupted(signum, saved=False)
        self.signum = signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
