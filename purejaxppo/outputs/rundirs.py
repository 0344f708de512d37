"""Run directories: created exclusively, held by one process at a time, never left stranded by
a signal or a failure, their JSON written atomically (strict JSON), read back with a clear
error, and the trained policies saved (orbax) and loaded. What each command writes into its
directory is in `results`."""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import platform
import secrets
import shlex
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from purejaxppo.base import logs
from purejaxppo.base.errors import ConfigError
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.normalization import RunningMeanStd
from purejaxppo.core.trainer import abstract_params
from purejaxppo.engine.checkpoint import holds_checkpoints, remove_partial, write_atomically
from purejaxppo.engine.interrupt import Interrupted


def versions() -> dict[str, str]:
    """Installed versions of this package and what it trains with (distribution metadata)."""
    from importlib import metadata

    found = {}
    for name in ("purejaxppo", "jax", "jaxlib", "flax", "optax", "gymnax", "distrax", "brax"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name != "brax":  # an optional extra
                found[name] = "not installed"
    found["python"] = platform.python_version()
    return found


NULLED = "nonfinite_values_written_as_null"


def strict(data: Any) -> tuple[Any, int]:
    """`data` with every NaN and infinity as None (JSON has neither: strict parsers refuse a bare
    NaN), and how many there were."""
    if isinstance(data, dict):
        pairs = [(k, strict(v)) for k, v in data.items()]
        return {k: v for k, (v, _) in pairs}, sum(n for _, (_, n) in pairs)
    if isinstance(data, (list, tuple)):
        items = [strict(v) for v in data]
        return [v for v, _ in items], sum(n for _, n in items)
    if isinstance(data, (float, np.floating)) and not math.isfinite(data):
        return None, 1
    if isinstance(data, np.ndarray):
        return strict(data.tolist())
    if isinstance(data, np.generic):
        return strict(data.item())
    return data, 0


def write_json(path: Path, data: Any) -> None:
    """Strict JSON, whole or not at all; NaN and infinities become null, and a dict gains
    `nonfinite_values_written_as_null` (their count) when there were any."""
    data, nulled = strict(data)
    if nulled and isinstance(data, dict):
        data[NULLED] = nulled
    text = json.dumps(data, indent=2, default=str, allow_nan=False)
    write_atomically(path, text + "\n")


def read_json(path: Path) -> Any:
    """A JSON file of a run directory, or a ConfigError naming the file and the fix."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{str(path)!r} does not exist. Fix: pass a run directory written by purejaxppo."
        ) from None
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"{str(path)!r} cannot be read ({type(error).__name__}: {error}). Fix: restore the "
            "file from a backup or run again into a new directory."
        ) from None


def existing_ancestor(path: Path) -> Path:
    """`path` itself if it exists, else its nearest existing parent (where it would be made)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_output_dir(out: Path, flag: str = "--out") -> None:
    """Raise ConfigError unless `out` is (or can be made) a writable directory. Creates nothing."""
    existing = existing_ancestor(out)
    if existing.exists() and not existing.is_dir():
        raise ConfigError(
            f"{flag}={str(out)!r}: {str(existing)!r} is a file, not a directory. Fix: choose "
            f"another {flag}."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{flag}={str(out)!r}: {str(existing)!r} is not writable. Fix: choose a directory you "
            "can write to."
        )


def check_output_file(flag: str, path: Path) -> None:
    """Raise ConfigError unless a file can be written at `path` (checked before any work)."""
    if path.is_dir():
        raise ConfigError(f"{flag}={str(path)!r} is a directory. Fix: name a file in it.")
    check_output_dir(path.parent, flag)


def create_run_directory(out: Path, name: str | None, prefix: str) -> Path:
    """Create OUT/NAME, never one that exists: a given name must be new (`resume` continues an
    old run), and default names get a random suffix so that two jobs never share one."""
    check_output_dir(out)
    if name is not None and (not name or "/" in name or name in (".", "..")):
        raise ConfigError(f"--name={name!r}: not a directory name. Fix: e.g. --name baseline.")
    directory = out / (name or f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}")
    out.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir()
    except FileExistsError:
        raise ConfigError(
            f"--name={name!r}: {str(directory)!r} already exists. Fix: choose another --name, or "
            f"continue that run with `{resume_hint(directory)}`."
        ) from None
    return directory


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold `directory` exclusively (an advisory lock on DIR/.lock, released by the kernel when
    the process dies, however it dies): a second train or resume into it is refused."""
    handle = (directory / ".lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ConfigError(
            f"{str(directory)!r} is in use by pid {holder}. Fix: wait for that run to end (or "
            "stop it), then resume this directory; two writers would overwrite each other."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def resume_hint(directory: Path) -> str:
    return f"purejaxppo resume {shlex.quote(str(directory))}"


def guarded(directory: Path, resuming: bool, work: Callable[[], int]) -> int:
    """Run `work` holding the directory's lock; on Ctrl-C or SIGTERM say how to resume; on a
    failure of a new run that saved nothing, remove its directory. A directory whose
    checkpoints hold anything is never removed: they are what a resume continues from."""
    logs.log_to(directory)
    try:
        with locked(directory):
            return work()
    except KeyboardInterrupt as stop:  # Interrupted, or Ctrl-C outside the training loop
        signum = stop.signum if isinstance(stop, Interrupted) else signal.SIGINT
        checkpoints = directory / "checkpoints"
        remove_partial(checkpoints)
        if isinstance(stop, Interrupted) and stop.saved:
            print(f"\ninterrupted; checkpoint saved. Continue with: {resume_hint(directory)}")
        elif resuming or holds_checkpoints(checkpoints):
            print(
                f"\ninterrupted; the last checkpoint is kept. Continue with: "
                f"{resume_hint(directory)}"
            )
        else:
            shutil.rmtree(directory, ignore_errors=True)
            print("\ninterrupted before anything was saved; nothing is left behind.")
        return 128 + signum
    except BaseException:
        if not resuming and not holds_checkpoints(directory / "checkpoints"):
            shutil.rmtree(directory, ignore_errors=True)
        raise


def save_final(directory: Path, params: Any, obs_stats: Any) -> None:
    checkpointer = ocp.StandardCheckpointer()
    final = {"params": params, "obs_stats": obs_stats}
    checkpointer.save((directory / "final").absolute(), final, force=True)
    checkpointer.wait_until_finished()
    checkpointer.close()


def load_final(directory: Path, network: Any = None) -> tuple[PPOConfig, Any, RunningMeanStd]:
    """The config, params and obs statistics of every run of a finished run directory
    (`network`: the network of yours it was trained with, passed again)."""
    config = PPOConfig(**read_json(directory / "config.json"))
    summary = read_json(directory / "summary.json")
    runs = int(summary.get("num_runs", summary.get("population", 0)))
    params, spec = abstract_params(config, network=network)
    stats = jax.eval_shape(lambda: RunningMeanStd.create(spec.obs_shape))
    like = jax.tree.map(
        lambda x: np.zeros((runs, *x.shape), x.dtype), {"params": params, "obs_stats": stats}
    )
    checkpointer = ocp.StandardCheckpointer()
    try:
        final = checkpointer.restore((directory / "final").absolute(), like)
    except Exception as error:  # orbax raises many kinds for missing or damaged files
        raise ConfigError(
            f"{str(directory / 'final')!r}: the trained policies cannot be read "
            f"({type(error).__name__}). Fix: pass a directory of a finished run, or train again."
        ) from None
    finally:
        checkpointer.close()
    return config, final["params"], final["obs_stats"]
