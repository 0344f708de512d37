"""A live progress bar fed from inside the compiled loop: env steps, steps/s, ETA, mean return."""

from __future__ import annotations

import math
import threading
import time

import rich
from rich import progress as rich_progress
from rich.progress import (
    BarColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)


def _short(count: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return f"{count:.0f}"


class Progress:
    """What the engine tells a progress display as it loops (this one shows nothing).

    `start(parts)`: the engine may have each chunk's runs update in `parts` groups one after
    another (an evolution strategy's population that does not fit at once); a report then counts
    one group's updates.
    """

    def start(self, parts: int = 1) -> None:
        pass

    def begin_chunk(self, first_run: int, num_runs: int, units_done: int = 0) -> None:
        pass

    def stop(self) -> None:
        pass


class TrainingProgress(Progress):
    """Host side of the progress callback, which the compiled loop calls every few updates with
    sums over every run of the chunk (never once per run). Runs take `batch_size` env steps per
    update and `env_steps` in all; the engine counts its units (updates, or ES generations of
    `updates_per_unit` updates) when it resumes."""

    def __init__(
        self,
        num_runs: int,
        env_steps: int,
        batch_size: int,
        description: str,
        enabled: bool = True,
        updates_per_unit: int = 1,
    ) -> None:
        total_env_steps = num_runs * env_steps
        self.total = total_env_steps
        self.env_steps = env_steps
        self.batch_size = batch_size
        self.calls = 0
        self.updates_per_unit = updates_per_unit
        self.completed = 0
        self._lock = threading.Lock()
        self._chunk_base = 0  # env steps of the runs before the running chunk
        self._steps_per_update = 0  # env steps of one update of every run of the chunk
        self._updates_done = 0  # in the running chunk, the most any call has reported
        self._mean_return = math.nan
        # The speed shown is the summary's: env steps computed in this process (not those a
        # resume restored) over the time since the loop started (rich's own moving estimate
        # counted restored chunks as progress and differed from the summary by up to 2x).
        self._started = math.nan
        self._restored = 0
        self._parts = 1
        self._progress = rich_progress.Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            TaskProgressColumn(),
            TextColumn("{task.fields[steps]} steps {task.fields[rate]}"),
            TimeRemainingColumn(),
            TextColumn("return {task.fields[ret]}"),
            disable=not enabled,
        )
        self._task = self._progress.add_task(
            description, total=total_env_steps, steps="0", rate="", ret="-"
        )

    def start(self, parts: int = 1) -> None:
        self._parts = parts
        self._started = time.perf_counter()
        self._progress.start()

    def steps_per_second(self) -> float:
        """Env steps computed in this process per second since `start` (as the summary's)."""
        elapsed = time.perf_counter() - self._started
        return (self.completed - self._restored) / elapsed if elapsed > 0 else math.nan

    def begin_chunk(self, first_run: int, num_runs: int, units_done: int = 0) -> None:
        """Runs first_run.. first_run + num_runs start (or resume after `units_done` units);
        the runs before them are done."""
        updates_done = units_done * self.updates_per_unit * self._parts
        with self._lock:
            before = self.completed
            self._chunk_base = first_run * self.env_steps
            self._steps_per_update = num_runs * self.batch_size / self._parts
            self._updates_done = updates_done
            self.completed = int(self._chunk_base + updates_done * self._steps_per_update)
            self._restored += self.completed - before
        self._progress.update(self._task, completed=self.completed, steps=_short(self.completed))

    def __call__(self, updates_done, return_sum, episodes_finished) -> None:
        """One report from the compiled loop: after `updates_done` updates of every run of the
        chunk, the sum of the returns and the count of the episodes that finished in that update.
        Reports arrive unordered from XLA's threads: the newest one wins."""
        with self._lock:
            self.calls += 1
            if int(updates_done) >= self._updates_done:
                self._updates_done = int(updates_done)
                if int(episodes_finished) > 0:
                    self._mean_return = float(return_sum) / int(episodes_finished)
            self.completed = int(self._chunk_base + self._updates_done * self._steps_per_update)
            completed, mean_return = self.completed, self._mean_return
            speed = self.steps_per_second()
        rate = f"({_short(speed)}/s)" if speed > 0 else ""
        shown = "-" if math.isnan(mean_return) else f"{mean_return:.1f}"
        self._progress.update(
            self._task, completed=completed, steps=_short(completed), rate=rate, ret=shown
        )

    def stop(self) -> None:
        self._progress.stop()


def tracker_for(
    progress: bool | TrainingProgress,
    runs: int,
    env_steps: int,
    batch_size: int,
    description: str,
    updates_per_unit: int = 1,
) -> TrainingProgress | None:
    """The progress bar an entry point feeds: the caller's own, a new one when `progress` is
    True and a live bar can be seen, or None (no host callback at all).

    Where rich cannot redraw a bar (output to a file or a pipe: a batch job's log, a test's
    captured output) it would only print the last state, which the summary repeats; and a
    program with a host callback is never written to JAX's persistent compilation cache, so
    each such process would compile it again. There, `progress=True` compiles no callback.
    rich's `TTY_INTERACTIVE=1` forces the live bar."""
    if isinstance(progress, TrainingProgress):
        return progress
    if not progress or not live_display():
        return None
    return TrainingProgress(runs, env_steps, batch_size, description, True, updates_per_unit)


def live_display() -> bool:
    """Whether rich redraws a progress bar on its console: a terminal or a notebook."""
    console = rich.get_console()
    return console.is_jupyter or console.is_interactive
