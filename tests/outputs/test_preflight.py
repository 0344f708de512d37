"""Checks before any work: the job against the disk."""

from __future__ import annotations

import shutil

import pytest

import purejaxppo


def test_a_job_larger_than_the_disk_is_refused_and_a_large_one_announced(
    tmp_path, capsys, monkeypatch
):
    from purejaxppo.outputs import preflight

    config = purejaxppo.PPOConfig(total_timesteps=10_000_000)
    per_run = preflight.output_bytes(config, 1, 10_000, True)
    free = 1000 * per_run  # a disk with room for 1000 runs (about 5.5 GiB)
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
    # The size follows the metrics a run writes, so the expected figure is computed, not pinned.
    assert f"will write about {1000 * per_run / 2**30:.1f} GiB" in capsys.readouterr().err
