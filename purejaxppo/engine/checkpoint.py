"""Checkpoints of the engine's segment loop with orbax.

Layout under a checkpoint directory:
    state/<step>/        the carry of the chunk of runs in progress and its outputs so far (orbax
                         CheckpointManager: each step is written aside and renamed when complete,
                         and the previous one is kept until then)
    chunks/<index>/      the outputs of each finished chunk of runs
    fingerprint.json     what the runs are; a resume must match it
PRNG keys are stored as their raw uint32 data.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from purejaxppo.base.errors import ConfigError
from purejaxppo.base.prng import wrap_like


def _is_key(leaf: Any) -> bool:
    return jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def to_host(tree: Any, fetch: Any = np.asarray) -> Any:
    """NumPy leaves (`fetch` copies one array to the host); PRNG keys become their key data."""
    return jax.tree.map(lambda x: fetch(jax.random.key_data(x) if _is_key(x) else x), tree)


def host_like(abstract: Any) -> Any:
    """Zeros shaped like `to_host` of a tree with the shapes and dtypes of `abstract`."""

    def zeros(leaf: Any) -> np.ndarray:
        if _is_key(leaf):
            leaf = jax.eval_shape(jax.random.key_data, leaf)
        return np.zeros(leaf.shape, leaf.dtype)

    return jax.tree.map(zeros, abstract)


def from_host(host: Any, abstract: Any) -> Any:
    """Inverse of `to_host`: wraps key data back into keys where `abstract` has keys."""
    return jax.tree.map(lambda h, a: wrap_like(h, a) if _is_key(a) else h, host, abstract)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: never half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def remove_partial(directory: Path) -> None:
    """Remove the half-written checkpoints a process stopped mid-write left (orbax writes each
    aside, under a temporary name, and renames it when complete)."""
    for kind in ("state", "chunks"):
        for partial in (directory / kind).glob("*.orbax-checkpoint-tmp*"):
            shutil.rmtree(partial, ignore_errors=True)


def holds_checkpoints(directory: Path) -> bool:
    """Whether `directory` holds a saved carry or a finished chunk: progress a resume needs."""
    return any(p.is_file() for kind in ("state", "chunks") for p in (directory / kind).rglob("*"))


class RunCheckpoints:
    """Save and restore the engine's progress in `directory` (one writer at a time: the command
    line holds the run directory's lock)."""

    enabled = True

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory).absolute()
        self.directory.mkdir(parents=True, exist_ok=True)
        remove_partial(self.directory)
        self._manager = ocp.CheckpointManager(
            self.directory / "state",
            options=ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False),
        )
        self._checkpointer = ocp.StandardCheckpointer()

    def resume_layout(self, identity: dict[str, Any], devices: int) -> int | None:
        """Runs per chunk recorded for these runs, or None in a new directory. Refuses a
        directory of other runs, or one that ran on another number of devices."""
        path = self.directory / "fingerprint.json"
        if not path.exists():
            if holds_checkpoints(self.directory):
                raise ConfigError(
                    f"{str(path)!r} is missing, so nothing says which runs the checkpoints in "
                    f"{str(self.directory)!r} belong to. Fix: restore the file from a backup, "
                    "or delete the checkpoints to train these runs from the start."
                )
            return None
        try:
            recorded = json.loads(path.read_text())
            layout = {k: recorded.pop(k) for k in ("runs_per_chunk", "devices")}
        except (OSError, ValueError, KeyError) as error:
            raise ConfigError(
                f"{str(path)!r} cannot be read ({type(error).__name__}: {error}). Fix: restore it "
                "from a backup, or start the runs again in a new directory."
            ) from None
        expected = json.loads(json.dumps(identity))  # as JSON would give it back
        changed = sorted(
            k for k in recorded.keys() | expected.keys() if recorded.get(k) != expected.get(k)
        )
        if changed:
            raise ConfigError(
                f"checkpoint_dir={str(self.directory)!r} holds other runs (different: "
                f"{', '.join(changed)}). Fix: resume with the original settings, or use a new "
                "directory."
            )
        if layout["devices"] != devices:
            raise ConfigError(
                f"checkpoint_dir={str(self.directory)!r}: these runs were sharded over "
                f"{layout['devices']} device(s), and {devices} would be used now. Fix: resume "
                f"with {layout['devices']} device(s), or start again in a new directory."
            )
        return int(layout["runs_per_chunk"])

    def record(self, fingerprint: dict[str, Any]) -> None:
        """Write what the runs are (once, before the first checkpoint)."""
        path = self.directory / "fingerprint.json"
        if not path.exists():
            write_atomically(path, json.dumps(fingerprint, indent=2, sort_keys=True) + "\n")

    def restore_latest(self, like: dict[str, Any]) -> dict[str, Any] | None:
        """The newest readable carry (None if none was saved). A damaged newest one is skipped
        with a warning, since the previous one is kept until a newer one is complete."""
        damaged, newer = [], []
        for step in sorted(self._manager.all_steps(), reverse=True):
            try:
                carry = self._manager.restore(step, args=ocp.args.StandardRestore(like))
            except Exception as error:  # orbax raises many kinds for damaged files
                damaged.append(f"{self.directory / 'state' / str(step)} ({type(error).__name__})")
                newer.append(step)
                continue
            if damaged:
                warnings.warn(
                    f"checkpoint {damaged[0]} is damaged; resuming from the one before it "
                    f"(step {step}). The damaged one is kept in "
                    f"{self.directory / 'damaged'} for inspection.",
                    stacklevel=2,
                )
                self._set_aside(newer)
            return carry
        if damaged:
            raise ConfigError(
                f"no usable checkpoint: {'; '.join(damaged)} cannot be read. Fix: delete "
                f"{str(self.directory / 'state')!r} to train these runs from the start."
            )
        return None

    def _set_aside(self, steps: list[int]) -> None:
        """Move damaged steps out of the manager's way (it would refuse to save them again)."""
        aside = self.directory / "damaged"
        aside.mkdir(exist_ok=True)
        for step in steps:
            os.replace(self.directory / "state" / str(step), aside / f"{step}-{os.getpid()}")
        self._manager.reload()

    def save_carry(self, step: int, carry: dict[str, Any]) -> None:
        with _storage(self.directory):
            self._manager.save(step, args=ocp.args.StandardSave(carry), force=True)
            self._manager.wait_until_finished()

    def _chunk_path(self, index: int) -> Path:
        return self.directory / "chunks" / f"{index:05d}"

    def has_chunk(self, index: int) -> bool:
        return self._chunk_path(index).exists()

    def save_chunk(self, index: int, outputs: Any) -> None:
        path = self._chunk_path(index)
        with _storage(self.directory):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._checkpointer.save(path, outputs, force=True)
            self._checkpointer.wait_until_finished()

    def restore_chunk(self, index: int, like: Any) -> Any:
        try:
            return self._checkpointer.restore(self._chunk_path(index), like)
        except Exception as error:  # orbax raises many kinds for damaged files
            raise ConfigError(
                f"{str(self._chunk_path(index))!r}: the results of finished runs cannot be read "
                f"({type(error).__name__}). Fix: delete that directory to train those runs again."
            ) from None

    def close(self) -> None:
        self._manager.close()
        self._checkpointer.close()


@contextlib.contextmanager
def _storage(directory: Path) -> Iterator[None]:
    """A failed write (a full disk, lost permissions) as a message; the previous checkpoint is
    untouched, since orbax writes a new one aside and renames it when complete."""
    try:
        yield
    except Exception as error:
        cause = error if isinstance(error, OSError) else error.__cause__ or error
        raise ConfigError(
            f"could not write a checkpoint in {str(directory)!r} ({type(cause).__name__}: "
            f"{cause}). The previous checkpoint is intact. Fix: free space or fix permissions, "
            "then `purejaxppo resume` the run."
        ) from error


class NoCheckpoints:
    """The same loop without a checkpoint directory: nothing is saved or found."""

    enabled = False

    def resume_layout(self, identity: dict[str, Any], devices: int) -> None:
        return None

    def record(self, fingerprint: dict[str, Any]) -> None:
        pass

    def restore_latest(self, like: dict[str, Any]) -> None:
        return None

    def save_carry(self, step: int, carry: dict[str, Any]) -> None:
        pass

    def has_chunk(self, index: int) -> bool:
        return False

    def save_chunk(self, index: int, outputs: Any) -> None:
        pass

    def close(self) -> None:
        pass
