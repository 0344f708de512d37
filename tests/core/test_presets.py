"""The presets: every one loads and builds."""

from __future__ import annotations

import pytest

from purejaxppo.core.presets import PRESETS, preset
from purejaxppo.core.trainer import make_train_functions


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
