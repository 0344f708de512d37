"""Evaluation, the progress callback and the presets."""

from __future__ import annotations

import shutil

import jax
import numpy as np
import pytest

import purejaxppo
from purejaxppo import PPOConfig
from purejaxppo.core.evaluation import evaluate
from purejaxppo.core.presets import PRESETS, preset
from purejaxppo.core.trainer import make_train_functions
from purejaxppo.engine.progress import TrainingProgress
from tests import probes


def test_evaluate_runs_whole_episodes():
    config = PPOConfig()
    functions = make_train_functions(config, probes.NeverEnding())
    params = functions.init_params(jax.random.key(0))
    result = evaluate(config, params, key=1, num_episodes=4, env=probes.NeverEnding())
    np.testing.assert_array_equal(result.lengths, [10, 10, 10, 10])  # cut by the time limit
    np.testing.assert_array_equal(result.returns, [10.0] * 4)


def test_evaluate_over_a_runs_axis_and_deterministic_mode(small_config):
    runs = purejaxppo.train(small_config, num_seeds=2, key=0)
    result = evaluate(small_config, runs.params, key=0, num_episodes=3, obs_stats=runs.obs_stats)
    assert result.returns.shape == (2, 3)
    assert np.all(result.lengths >= 8) and np.all(result.returns == result.lengths)  # CartPole
    again = evaluate(small_config, runs.params, key=5, num_episodes=3, obs_stats=runs.obs_stats)
    assert again.returns.shape == (2, 3)  # a deterministic policy: only resets differ


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


def test_a_job_larger_than_the_disk_is_refused_and_a_large_one_announced(
    tmp_path, capsys, monkeypatch
):
    from purejaxppo.outputs import preflight

    config = purejaxppo.PPOConfig(total_timesteps=10_000_000)
    per_run = preflight.output_bytes(config, 1, 10_000, True)
    free = 1000 * per_run  # a disk with room for 1000 runs (about 5 GiB)
    monkeypatch.setattr(
        preflight.shutil,
        "disk_usage",
        lambda path: shutil._ntuple_diskusage(total=2 * free, used=free, free=free),
    )
    with pytest.raises(purejaxppo.ConfigError, match="GiB free"):
        preflight.check_size(config, 1001, 10_000, tmp_path / "new", True)
    preflight.check_size(config, 2, 10_000, tmp_path, True)  # small: silent
    assert capsys.readouterr().err == ""
    assert 1000 * per_run > preflight.LARGE_BYTES
    preflight.check_size(config, 1000, 10_000, tmp_path, True)
    assert "will write about 5.2 GiB" in capsys.readouterr().err


def test_no_callback_without_progress(small_config, monkeypatch):
    calls = []
    monkeypatch.setattr(TrainingProgress, "__call__", lambda self, *a: calls.append(a))
    purejaxppo.train(small_config, num_seeds=2, key=0)
    assert calls == []


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


@pytest.mark.parametrize("env_id", sorted(PRESETS))
def test_every_preset_loads_and_builds(env_id):
    entry = PRESETS[env_id]
    config = preset(env_id)
    assert config.env_id == env_id and config.total_timesteps == entry.budget
    functions = make_train_functions(config)
    assert functions.spec.name
    if entry.reference is not None:
        assert entry.reference["return"] and entry.reference["source"]
    assert entry.describe().startswith(f"{entry.budget:.0e}")
