"""The progress display fed from the compiled loop, and the segmented loop."""

from __future__ import annotations

import io

import jax
import numpy as np
import pytest
import rich
import rich.console

import purejaxppo
from purejaxppo.engine.progress import TrainingProgress


@pytest.mark.parametrize("segmented", [False, True])
@pytest.mark.parametrize("every", [1, 5])
def test_progress_is_one_host_call_per_report_per_chunk_never_per_run(small_config, every,
                                                                      segmented):  # fmt: skip
    tracker = TrainingProgress(
        6, small_config.env_steps, small_config.batch_size, "test", enabled=False
    )
    purejaxppo.train(small_config, num_seeds=6, key=0, progress=tracker, max_runs_per_chunk=3,
                     progress_every=every, segment_updates=5 if segmented else None)  # fmt: skip
    n = small_config.num_updates  # 12
    reports = [u for u in range(1, n + 1) if u % every == 0 or u == n]
    assert tracker.calls == 2 * len(reports)  # 2 chunks of 3 runs, one call for all 3
    assert tracker.completed == tracker.total == 6 * small_config.env_steps


def test_the_progress_speed_is_the_summarys_and_leaves_restored_runs_out(monkeypatch):
    clock = iter([100.0, 102.0, 104.0])
    monkeypatch.setattr("purejaxppo.engine.progress.time.perf_counter", lambda: next(clock))
    tracker = TrainingProgress(2, 10 * 64, 64, "test", enabled=False)
    tracker.start()  # t = 100
    tracker.begin_chunk(0, 2, units_done=4)  # a resume: 4 updates of both runs restored
    tracker(6, 0.0, 0)  # t = 102: 2 updates of 2 runs of 64 steps computed here
    assert tracker.completed == 6 * 2 * 64
    assert tracker.steps_per_second() == 2 * 2 * 64 / 4.0  # t = 104


@pytest.mark.parametrize("progress, interactive", [(False, True), (True, False), (True, True)])
def test_a_callback_only_where_a_live_bar_is_shown(small_config, monkeypatch, progress,
                                                   interactive):  # fmt: skip
    """progress=False compiles no callback; nor does progress=True where rich cannot redraw a
    bar (a file or a pipe), which keeps the program in JAX's persistent compilation cache."""
    calls = []
    monkeypatch.setattr(TrainingProgress, "__call__", lambda self, *a: calls.append(a))
    console = rich.console.Console(file=io.StringIO(), force_terminal=interactive,
                                   force_interactive=interactive)  # fmt: skip
    monkeypatch.setattr(rich, "_console", console)
    purejaxppo.train(small_config, num_seeds=2, key=0, progress=progress)
    assert bool(calls) == (progress and interactive)


def test_segmented_loop_equals_one_call(small_config, tmp_path):
    one_call = purejaxppo.train(small_config, num_seeds=2, key=4)
    segmented = purejaxppo.train(small_config, num_seeds=2, key=4, checkpoint_dir=tmp_path,
                                 segment_updates=5)  # fmt: skip
    for name, values in one_call.metrics.items():
        np.testing.assert_array_equal(values, segmented.metrics[name], err_msg=name)
    for a, b in zip(jax.tree.leaves(one_call.params), jax.tree.leaves(segmented.params),
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)
    again = purejaxppo.train(small_config, num_seeds=2, key=4, checkpoint_dir=tmp_path,
                             segment_updates=5)  # fmt: skip
    np.testing.assert_array_equal(again.metrics["policy_loss"], one_call.metrics["policy_loss"])
    with pytest.raises(ValueError, match="holds other runs"):
        purejaxppo.train(small_config, num_seeds=3, key=4, checkpoint_dir=tmp_path)
