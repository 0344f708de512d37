"""Third-party output kept out of the terminal, so that the command line's own message is the last
thing a user reads: orbax, absl and asyncio log records and "exception ignored" reports go to
RUN_DIR/debug.log (to a temporary file until the run directory exists) instead of stderr.
`purejaxppo --debug COMMAND ...` (or PUREJAXPPO_DEBUG=1) prints them as they come.

Only the command line calls `divert`; a library user's logging is left as it is.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_BUFFERED = 10_000  # records kept before the log file is known (the oldest are dropped)


class _DeferredFile(logging.Handler):
    """Records buffered in memory until `attach` names the file, then appended to it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(_FORMAT))
        self.buffer: deque[logging.LogRecord] = deque(maxlen=_BUFFERED)
        self.path: Path | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.path is None:
            self.buffer.append(record)
            return
        try:
            with self.path.open("a") as file:
                file.write(self.format(record) + "\n")
        except OSError:  # a full disk must not turn a log line into a second failure
            pass

    def attach(self, path: Path) -> None:
        self.path = path
        while self.buffer:
            self.emit(self.buffer.popleft())


_handler: _DeferredFile | None = None


def _log_unraisable(report: Any) -> None:
    exc_info = (report.exc_type, report.exc_value, report.exc_traceback)
    logging.getLogger("unraisable").warning(
        "exception ignored in %r", report.object, exc_info=exc_info
    )


def divert(debug: bool) -> None:
    """Route third-party output to the log file (or, with `debug`, to stderr at INFO)."""
    global _handler
    if debug or os.environ.get("PUREJAXPPO_DEBUG"):
        logging.basicConfig(level=logging.INFO, format=_FORMAT, force=True)
        return
    _handler = _DeferredFile()
    logging.root.handlers = [_handler]
    logging.root.setLevel(logging.WARNING)
    sys.unraisablehook = _log_unraisable


def log_to(directory: Path) -> None:
    """Write the diverted output to DIRECTORY/debug.log from now on (and what came before)."""
    if _handler is not None:
        _handler.attach(directory / "debug.log")


def log_path() -> Path | None:
    """Where the diverted output goes: the run directory's debug.log, or a temporary file (made
    now) when no run directory exists; None when nothing is diverted."""
    if _handler is None:
        return None
    if _handler.path is None:
        handle, name = tempfile.mkstemp(prefix="purejaxppo-", suffix=".log")
        os.close(handle)
        _handler.attach(Path(name))
    return _handler.path


def record_failure(error: BaseException) -> Path | None:
    """Log an unexpected error with its traceback; returns the file it went to."""
    logging.getLogger("purejaxppo").error(
        "unexpected error", exc_info=(type(error), error, error.__traceback__)
    )
    return log_path()
