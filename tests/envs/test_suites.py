"""What every suite adapter shares: without its extra, building one of its environments says
which pip command installs it (the suite's import is blocked here, so the test needs no extra)."""

from __future__ import annotations

import sys

import pytest

from purejaxppo import ConfigError
from purejaxppo.envs.brax import BraxEnvironment
from purejaxppo.envs.craftax import CraftaxEnvironment
from purejaxppo.envs.jumanji import JumanjiEnvironment
from purejaxppo.envs.playground import PlaygroundEnvironment
from purejaxppo.envs.xminigrid import XMiniGridEnvironment

SUITES = [  # (extra, the module whose import fails without it, an environment of the suite)
    ("brax", "brax", lambda: BraxEnvironment("hopper")),
    ("xminigrid", "xminigrid", lambda: XMiniGridEnvironment("MiniGrid-Empty-5x5")),
    ("craftax", "craftax.craftax_env", lambda: CraftaxEnvironment("Craftax-Classic-Symbolic-v1")),
    ("jumanji", "jumanji", lambda: JumanjiEnvironment("Knapsack-v1")),
    ("playground", "mujoco_playground", lambda: PlaygroundEnvironment("CartpoleBalance")),
]


@pytest.mark.parametrize(("extra", "module", "build"), SUITES, ids=[s[0] for s in SUITES])
def test_a_missing_extra_names_its_pip_command(monkeypatch, extra, module, build):
    monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ImportError
    with pytest.raises(ConfigError, match=rf"pip install 'purejaxppo\[{extra}\]'"):
        build()
