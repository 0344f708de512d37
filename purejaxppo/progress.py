"""A live progress bar fed from inside the compiled loop: env steps, steps/s, ETA, mean return."""

from __future__ import annotations

import math
import threading

from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)


def _short(count: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return f"{count:.0f}"


class TrainingProgress:
    """Host side of the progress callback. Each call is one update of every run in the chunk.

    Calls come from XLA's threads, unordered, so the counter is locked and the shown return is
    that of the most recent update reported.
    """

    def __init__(self, total_env_steps: int, description: str, enabled: bool = True) -> None:
        self.total = total_env_steps
        self.calls = 0
        self.steps_per_call = 0
        self.completed = 0
        self._lock = threading.Lock()
        self._last_update = -1
        self._mean_return = math.nan
        self._progress = Progress(
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

    def start(self, completed: int = 0) -> None:
        self.completed = completed
        self._progress.update(self._task, completed=completed, steps=_short(completed))
        self._progress.start()

    def set_chunk(self, runs: int, batch_size: int) -> None:
        """Env steps that one callback stands for: one update of every run in the chunk."""
        self.steps_per_call = runs * batch_size

    def __call__(self, update_index, return_sum, episodes_finished) -> None:
        with self._lock:
            self.calls += 1
            self.completed += self.steps_per_call
            if int(episodes_finished) > 0 and int(update_index) >= self._last_update:
                self._last_update = int(update_index)
                self._mean_return = float(return_sum) / int(episodes_finished)
            completed, mean_return = self.completed, self._mean_return
        task = self._progress.tasks[0]
        rate = f"({_short(task.speed)}/s)" if task.speed else ""
        shown = "-" if math.isnan(mean_return) else f"{mean_return:.1f}"
        self._progress.update(
            self._task, completed=completed, steps=_short(completed), rate=rate, ret=shown
        )

    def stop(self) -> None:
        self._progress.stop()
