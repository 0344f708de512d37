"""Running the command line in a subprocess, and killing one outright once it has saved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "purejaxppo.cli"]


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """`purejaxppo ARGS` in a fresh process (one XLA CPU device unless `env` says otherwise)."""
    env = {**os.environ, "XLA_FLAGS": "", **(env or {})}
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def kill_after_first_checkpoint(args: list[str], run_dir: Path, settle: float = 0.0) -> None:
    """Start `purejaxppo ARGS`, SIGKILL it as soon as RUN_DIR holds a saved checkpoint (after
    `settle` seconds more), and check that it had not finished."""
    env = {**os.environ, "XLA_FLAGS": ""}
    victim = subprocess.Popen([*CLI, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    state = run_dir / "checkpoints" / "state"
    deadline = time.time() + 300
    while time.time() < deadline and not (state.exists() and any(state.glob("[0-9]*"))):
        time.sleep(0.05)
    time.sleep(settle)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (run_dir / "summary.json").exists(), "it finished before the kill"


def on_two_devices(code: str) -> dict:
    """Run Python `code` (dedented) with two forced host devices; the JSON of its last line."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(result["devices"]) == 2
    return result
