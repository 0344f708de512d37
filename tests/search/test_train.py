"""`train`: the segment plan and what a run without a final episode counts."""

from __future__ import annotations

import numpy as np
import pytest

import purejaxppo
from purejaxppo import ConfigError
from tests import probes
from tests.tiny import tiny_config

TINY = tiny_config(12)


def test_checkpoint_every_must_be_whole_segments(tmp_path):
    with pytest.raises(ConfigError, match="checkpoint_every=7"):
        purejaxppo.train(TINY, checkpoint_dir=tmp_path, segment_updates=5, checkpoint_every=7)
    assert not any(tmp_path.iterdir())  # refused before anything was written
    # A checkpoint interval past the end of a short run means none before the end, as the
    # command line's defaults (every 500 updates) give for any run under 500 updates.
    short = purejaxppo.train(TINY, checkpoint_dir=tmp_path / "short", checkpoint_every=500)
    assert short.metrics["nonfinite"].shape[1] == TINY.num_updates


def test_runs_without_a_final_episode_are_counted_not_dropped():
    # Episodes of NeverEnding last 1000 steps: none finishes in 12 updates of 32 steps.
    env = probes.NeverEnding()
    env.max_steps = 1000
    result = purejaxppo.train(TINY, num_seeds=3, env=env)
    assert result.summary()["runs_without_final_episode"] == 3
    assert result.final_return.num_runs == 0 and np.isnan(result.final_return.mean)
