"""The extension points on the command line: MODULE:NAME for a network, an objective and a
randomisation, recorded in run.json so that eval and resume import them again."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from purejaxppo import ConfigError
from purejaxppo.cli.hooks import load
from tests.processes import ROOT
from tests.tiny import TINY_FLAGS

USER_MODULE = """
import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp


class Wide(nn.Module):
    @nn.compact
    def __call__(self, obs):
        x = nn.tanh(nn.Dense(96)(obs))
        return distrax.Categorical(logits=nn.Dense(2)(x)), nn.Dense(1)(x)[..., 0]


def spo(log_ratio, advantages, hparams):
    ratio = jnp.exp(log_ratio)
    return ratio * advantages - jnp.abs(advantages) * (ratio - 1) ** 2 / (2 * hparams.clip_eps)


def pole(key, params):
    return params.replace(length=jax.random.uniform(key, minval=0.3, maxval=0.7))
"""


@pytest.mark.slow
def test_train_eval_and_resume_import_the_hooks_again(tmp_path):
    (tmp_path / "mine.py").write_text(USER_MODULE)
    flags = [*TINY_FLAGS, "--total-timesteps", "1280", "--quiet",
             "--network-module", "mine:Wide", "--objective-function", "mine:spo",
             "--randomize", "mine:pole", "--out", "runs"]  # fmt: skip
    code = f"""
    import os, sys
    os.chdir({str(tmp_path)!r})
    from purejaxppo.cli.app import main
    assert main(["train", *{flags!r}, "--num-seeds", "2", "--name", "run"]) == 0
    assert main(["eval", "runs/run", "--num-episodes", "2"]) == 0
    assert main(["resume", "runs/run"]) == 0
    assert main(["pbt", *{flags!r}, "--population", "2", "--interval", "5", "--space",
                 "learning_rate=1e-4:1e-2", "--name", "pbt"]) == 0
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "runs" / "run" / "run.json").read_text())
    assert record["network_module"] == "mine:Wide" and record["randomize"] == "mine:pole"
    params = (tmp_path / "runs" / "run" / "final").exists()
    assert params and "mean return" in proc.stdout


def test_names_that_do_not_resolve_are_refused_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.py").write_text("X = 1\n")
    cases = [("mine", "expected MODULE:NAME"), ("nowhere:X", "cannot import nowhere"),
             ("mine:Y", "mine has no Y")]  # fmt: skip
    for spec, says in cases:
        with pytest.raises(ConfigError, match=says):
            load(spec, "network-module")
    assert load("mine:X", "randomize") == 1
