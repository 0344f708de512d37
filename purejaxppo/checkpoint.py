"""Checkpoints of a batch of runs with orbax: the loop's carry, and finished chunks' results.

Layout under the checkpoint directory:
    state/<step>/        the carry of the chunk in progress (orbax CheckpointManager, atomic)
    chunks/<index>/      the results of each finished chunk of runs
    fingerprint.json     what the runs are; a resume must match it
PRNG keys are stored as their raw uint32 data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from purejaxppo.trainer import TrainState


def state_to_host(states: TrainState) -> TrainState:
    """NumPy leaves, with the PRNG keys as raw key data."""
    states = states.replace(key=jax.random.key_data(states.key))
    return jax.tree.map(np.asarray, states)


def state_from_host(states: TrainState) -> TrainState:
    return states.replace(key=jax.random.wrap_key_data(states.key))


def abstract_host_state(abstract: TrainState) -> TrainState:
    """The shape of `state_to_host(x)` for an abstract (eval_shape) TrainState."""
    key_data = jax.eval_shape(jax.random.key_data, abstract.key)
    return jax.tree.map(
        lambda leaf: np.zeros(leaf.shape, leaf.dtype), abstract.replace(key=key_data)
    )


class RunCheckpoints:
    """Save and restore the progress of `purejaxppo.train(..., checkpoint_dir=...)`."""

    enabled = True

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory).absolute()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._manager = ocp.CheckpointManager(
            self.directory / "state",
            options=ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False),
        )
        self._checkpointer = ocp.StandardCheckpointer()

    # --------------------------------------------------------------------------- fingerprint
    def check_fingerprint(self, fingerprint: dict[str, Any]) -> None:
        """Record `fingerprint`, or insist that it equals the recorded one."""
        path = self.directory / "fingerprint.json"
        text = json.dumps(fingerprint, indent=2, sort_keys=True)
        if not path.exists():
            path.write_text(text + "\n")
            return
        recorded = json.loads(path.read_text())
        if recorded != json.loads(text):
            changed = sorted(k for k in recorded.keys() | fingerprint.keys()
                             if recorded.get(k) != fingerprint.get(k))  # fmt: skip
            raise ValueError(
                f"checkpoint_dir={str(self.directory)!r} holds other runs (different: "
                f"{', '.join(changed)}). Fix: resume with the original settings, or use a new "
                "directory."
            )

    # --------------------------------------------------------------------------- carry
    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save_carry(self, step: int, carry: dict[str, Any]) -> None:
        self._manager.save(step, args=ocp.args.StandardSave(carry), force=True)
        self._manager.wait_until_finished()

    def restore_carry(self, step: int, like: dict[str, Any]) -> dict[str, Any]:
        return self._manager.restore(step, args=ocp.args.StandardRestore(like))

    # --------------------------------------------------------------------------- chunks
    def _chunk_path(self, index: int) -> Path:
        return self.directory / "chunks" / f"{index:05d}"

    def has_chunk(self, index: int) -> bool:
        return self._chunk_path(index).exists()

    def save_chunk(self, index: int, result: Any) -> None:
        path = self._chunk_path(index)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._checkpointer.save(path, result, force=True)
        self._checkpointer.wait_until_finished()

    def restore_chunk(self, index: int, like: Any) -> Any:
        return self._checkpointer.restore(self._chunk_path(index), like)

    def close(self) -> None:
        self._manager.close()
        self._checkpointer.close()


class NoCheckpoints:
    """The segmented loop without a checkpoint directory: nothing is saved or found."""

    enabled = False

    def check_fingerprint(self, fingerprint: dict[str, Any]) -> None:
        pass

    def latest_step(self) -> None:
        return None

    def save_carry(self, step: int, carry: dict[str, Any]) -> None:
        pass

    def has_chunk(self, index: int) -> bool:
        return False

    def save_chunk(self, index: int, result: Any) -> None:
        pass

    def close(self) -> None:
        pass
