"""The one builder of a batch of runs for the engine, used by train, sweep (through train), pbt and
es: the caller's key, the core's step over the runs with the progress display it feeds, and the
engine `Program` that identifies the batch (its fingerprint) for checkpoints and resume.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from purejaxppo.base.errors import as_key
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.trainer import TrainState, make_train_functions
from purejaxppo.engine import runner
from purejaxppo.engine.batched import DEFAULT_PROGRESS_EVERY, BatchedTraining
from purejaxppo.engine.progress import Progress, TrainingProgress, tracker_for


# eq=False: hashed by identity, so that its bound methods can be the engine's jitted functions.
@dataclasses.dataclass(frozen=True, eq=False)
class RunBatch:
    """R runs of one config being handed to the engine.

    `root` is the caller's key as a typed key (its impl is kept: every run's key is derived from
    it), `training` the core's init and step vmapped over the runs, and `tracker` the progress
    bar the compiled loop feeds (None: no host callback at all).
    """

    config: PPOConfig
    root: jax.Array
    training: BatchedTraining
    tracker: TrainingProgress | None
    hooks: dict[str, str] = dataclasses.field(default_factory=dict)  # yours, for the fingerprint

    def init(self, inputs: dict[str, Any]) -> TrainState:
        """Every run started from its key data `inputs["key"]` [R, W]."""
        return self.training.init(inputs["key"])

    def program(
        self,
        name: str,
        units: tuple[int, ...],
        init: Callable[[Any], Any],
        segment: Callable[..., tuple[Any, runner.Outputs]],
        finish: Callable[[Any], Any],
        fingerprint: dict[str, Any],
        independent: bool = False,
        in_parts: Callable[[int, int], Callable] | None = None,
    ) -> runner.Program:
        """The engine program of this batch; `fingerprint` (JSON data) is what, besides the
        config, makes two calls the same runs, so that the second resumes the first."""
        return runner.Program(
            name=name,
            init=init,
            segment=segment,
            finish=finish,
            segment_units=units,
            independent=independent,
            fingerprint={"config": self.config.to_dict(), **self.hooks, **fingerprint},
            progress=self.tracker or Progress(),
            in_parts=in_parts,
        )


def build(
    config: PPOConfig,
    key: jax.Array | int,
    num_runs: int,
    progress: bool | TrainingProgress = False,
    progress_every: int = DEFAULT_PROGRESS_EVERY,
    label: str = "",
    env: Any = None,
    env_params: Any = None,
    generations: int | None = None,
    network: Any = None,
    objective: Any = None,
    randomize: Any = None,
) -> RunBatch:
    """A batch of `num_runs` runs of `config` (on `env`, with `network`, `objective` and
    `randomize` when given, as for `make_train`).

    The engine counts units: updates, or with `generations` (ES) whole trainings from scratch,
    each of `config.num_updates` updates; the progress bar is sized for that many. `label` follows
    the env id in the bar's description.
    """
    root = as_key(key)
    env_steps, per_unit = config.env_steps, 1
    if generations is not None:
        env_steps, per_unit = generations * config.env_steps, config.num_updates
    description = f"{config.env_id} {label}".strip()
    tracker = tracker_for(
        progress, num_runs, env_steps, config.batch_size, description, updates_per_unit=per_unit
    )
    functions = make_train_functions(config, env, env_params, network=network, objective=objective)
    training = BatchedTraining(functions, tracker, progress_every, jax.random.key_impl(root))
    return RunBatch(config, root, training, tracker, hooks_fingerprint(network, objective))


def hooks_fingerprint(network: Any, objective: Any) -> dict[str, str]:
    """What identifies a network or objective of yours in a checkpoint (nothing for ours, so
    that fingerprints of runs without hooks are as before)."""
    found = {}
    if network is not None:
        found["network"] = repr(network)
    if objective is not None:
        found["objective"] = getattr(objective, "__qualname__", repr(objective))
    return found
