"""Jumanji through the gymnax interface (the optional `purejaxppo[jumanji]` extra), as
`jumanji:NAME` ids (e.g. `jumanji:Snake-v1`, `jumanji:Knapsack-v1`; `purejaxppo envs` lists them).

* An episode that ends with discount 0 (solved, lost, an illegal move) **terminates**: no
  bootstrap; one cut by the env's `time_limit` is **truncated**: it bootstraps from the value of
  `info["final_observation"]`, as for every env here. Most Jumanji tasks end at their time limit
  with discount 0, as if it were a termination; the adapter lifts the suite's limit and cuts
  the episode itself at the same step, as a truncation (a last step with discount 1, which a few
  tasks give, is a truncation too);
* the structured observation is flattened into one float32 vector, field by field in the spec's
  order: booleans as 0/1, integers with at most `ONE_HOT_MAX` values one-hot, other bounded
  integers scaled to [0, 1], the rest as they are;
* the action mask (the observation's `action_mask`, 1 = legal) is the vector's last
  `num_actions` entries, and the policy gives the illegal actions no probability
  (`EnvSpec.action_mask`), as Jumanji's own networks do;
* a `MultiDiscreteArray` action (Minesweeper's cell, BinPack's (space, item), Sudoku's
  (row, column, digit)) is one Discrete choice among all its combinations, when its mask has that
  shape. Multi-agent tasks, whose mask or action is per agent, are multi-agent envs
  (`jumanji_agents`); other action specs are refused with the reason (`REFUSED` lists the
  tasks refused in jumanji 1.1).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from purejaxppo.base.errors import ConfigError
from purejaxppo.envs.suite import SuiteEnvironment, SuiteParams, SuiteState, missing_extra

ONE_HOT_MAX = 32  # integer fields with more values than this are scaled, not one-hot encoded
MAX_JOINT_ACTIONS = 16_384  # a MultiDiscrete action with more combinations is refused


def import_jumanji() -> tuple[Any, Any]:
    """jumanji and its `specs` module, or the error that names the extra."""
    try:
        import jumanji
        from jumanji import specs
    except ImportError as error:
        raise missing_extra("Jumanji", "jumanji", error) from error
    return jumanji, specs


# What the adapter refuses (jumanji 1.1), and why; the multi-agent tasks (a mask or an action
# per agent) go through `jumanji_agents` instead.
REFUSED = {"Sokoban-v0": "downloads its levels"}


def jumanji_env_names() -> list[str]:
    """The suite's registered environments (needs jumanji)."""
    return sorted(import_jumanji()[0].registered_environments())


def trainable_names() -> list[str]:
    """The registered environments `jumanji:NAME` accepts (needs jumanji)."""
    return [name for name in jumanji_env_names() if name not in REFUSED]


@dataclasses.dataclass(frozen=True)
class _Field:
    """How one leaf of the observation becomes features."""

    path: tuple[str, ...]
    size: int  # elements of the leaf
    kind: str  # "float", "one_hot" or "scaled"
    low: float = 0.0
    high: float = 1.0

    @property
    def values(self) -> int:
        """Features per element: the integer range when one-hot, else 1."""
        return int(self.high - self.low) + 1 if self.kind == "one_hot" else 1

    @property
    def features(self) -> int:
        return self.size * self.values

    def encode(self, value: jax.Array) -> jax.Array:
        flat = jnp.asarray(value).reshape(-1)
        if self.kind == "one_hot":
            return jax.nn.one_hot(flat.astype(jnp.int32) - int(self.low), self.values).reshape(-1)
        if self.kind == "scaled":
            return (flat.astype(jnp.float32) - self.low) / (self.high - self.low)
        return flat.astype(jnp.float32)


@struct.dataclass
class JumanjiInner:
    state: Any  # the suite's own state
    truncated: jax.Array  # the step that made it cut the episode at the time limit


def spec_leaves(spec: Any, specs: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple, Any]]:
    """(path, array spec) of every leaf of a (nested) Jumanji observation spec, in its order."""
    if isinstance(spec, specs.Array):
        return [(path, spec)]
    return [leaf for k, v in spec._specs.items() for leaf in spec_leaves(v, specs, (*path, k))]


def field_of(path: tuple[str, ...], spec: Any, specs: Any) -> _Field:
    """How the leaf at `path` is encoded: bounded integers one-hot (few values) or scaled to
    [0, 1], everything else as floats."""
    size = int(np.prod(spec.shape, dtype=np.int64))
    dtype = np.dtype(spec.dtype)
    if dtype == np.bool_ or not isinstance(spec, specs.BoundedArray):
        return _Field(path, size, "float")
    low, high = float(np.min(spec.minimum)), float(np.max(spec.maximum))
    if np.issubdtype(dtype, np.integer) and high > low:
        kind = "one_hot" if high - low + 1 <= ONE_HOT_MAX else "scaled"
        return _Field(path, size, kind, low, high)
    return _Field(path, size, "float")


def leaf_at(tree: Any, path: tuple[str, ...]) -> Any:
    """The leaf of a Jumanji observation at `path` (attribute names)."""
    return functools.reduce(getattr, path, tree)


class JumanjiEnvironment(SuiteEnvironment):
    """A single-agent Jumanji environment as a gymnax `Environment` with flat observations and
    Discrete actions (Box for a continuous action spec)."""

    prefix = "jumanji"

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name)
        jumanji, specs = import_jumanji()
        if name not in (names := jumanji_env_names()):
            raise ConfigError(
                f"PPOConfig.env_id={self.name!r}: Jumanji has no environment {name!r}. Fix: use "
                f"one of {', '.join(names)} (as jumanji:NAME)."
            )
        try:
            self._env = jumanji.make(name, **kwargs)
        except Exception as error:  # e.g. Sokoban downloads its levels when built
            raise ConfigError(
                f"PPOConfig.env_id={self.name!r}: Jumanji could not build it "
                f"({type(error).__name__}: {error}). Fix: choose another environment."
            ) from error
        leaves = spec_leaves(self._env.observation_spec, specs)  # cached: keeps the real limit
        self.time_limit: int | None = getattr(self._env, "time_limit", None)
        if self.time_limit is not None:
            # Every task this adapter accepts reads it in `step` only (checked in jumanji 1.1;
            # SearchAndRescue, a multi-agent task built by `jumanji_agents`, also scales its
            # rewards by it), so the suite never ends an episode at the limit: `step_env` does, as a
            # truncation.
            self._env.time_limit = 2**30
        self._mask_shape = next((s.shape for p, s in leaves if p == ("action_mask",)), None)
        self._fields = tuple(field_of(p, s, specs) for p, s in leaves if p != ("action_mask",))
        self._action_space, self._unravel = self._actions(self._env.action_spec, specs)
        self.action_mask_in_obs = self._mask_shape is not None

    def _actions(self, spec: Any, specs: Any) -> tuple[Any, tuple[int, ...] | None]:
        """The gymnax action space and, for a MultiDiscrete spec, the shape to unravel into."""
        if isinstance(spec, specs.DiscreteArray):
            self._check_mask((int(spec.num_values),))
            return spaces.Discrete(int(spec.num_values)), None
        if isinstance(spec, specs.MultiDiscreteArray):
            shape = tuple(int(n) for n in np.asarray(spec.num_values).reshape(-1))
            count = int(np.prod(shape, dtype=np.int64))
            self._check_mask(shape)
            if count > MAX_JOINT_ACTIONS:
                raise self._unsupported(f"its {count} action combinations are too many")
            return spaces.Discrete(count), shape
        if isinstance(spec, specs.BoundedArray) and np.issubdtype(spec.dtype, np.floating):
            if self._mask_shape is not None or len(spec.shape) != 1:
                raise self._unsupported(f"a continuous action of shape {spec.shape}")
            low, high = np.asarray(spec.minimum), np.asarray(spec.maximum)
            return spaces.Box(low, high, spec.shape, jnp.float32), None
        raise self._unsupported(f"its action spec {spec!r}")

    def _check_mask(self, joint_shape: tuple[int, ...]) -> None:
        if self._mask_shape is not None and tuple(self._mask_shape) != joint_shape:
            raise self._unsupported(
                f"its action mask of shape {tuple(self._mask_shape)} is per agent or per part "
                f"of an action of shape {joint_shape} (a multi-agent or factored task)"
            )

    def _unsupported(self, why: str) -> ConfigError:
        return ConfigError(
            f"PPOConfig.env_id={self.name!r}: not supported: {why}. Fix: use a single-agent "
            "Jumanji task with a Discrete or MultiDiscrete action (`purejaxppo envs` lists them)."
        )

    def _observe(self, observation: Any) -> jax.Array:
        parts = [f.encode(leaf_at(observation, f.path)) for f in self._fields]
        if self._mask_shape is not None:
            parts.append(observation.action_mask.reshape(-1).astype(jnp.float32))
        return jnp.concatenate(parts)

    def reset_env(self, key: jax.Array, params: SuiteParams):
        state, timestep = self._env.reset(key)
        return self._observe(timestep.observation), self.wrap(JumanjiInner(state, jnp.bool_(False)))

    def step_env(self, key: jax.Array, state: SuiteState, action: Any, params: SuiteParams):
        del key  # a Jumanji state carries its own key
        if self._unravel is not None:
            action = jnp.stack(jnp.unravel_index(action, self._unravel)).astype(jnp.int32)
        inner, timestep = self._env.step(state.inner.state, action)
        terminated = timestep.last() & (timestep.discount == 0.0)
        truncated = timestep.last() & ~terminated
        if self.time_limit is not None:
            truncated |= (state.time + 1 >= self.time_limit) & ~terminated
        new_state = self.wrap(JumanjiInner(inner, truncated), state.time + 1)
        reward = timestep.reward.astype(jnp.float32)
        return self._observe(timestep.observation), new_state, reward, terminated, {}

    def is_truncated(self, state: SuiteState, params: SuiteParams) -> jax.Array:
        return state.inner.truncated

    def action_space(self, params: SuiteParams | None = None) -> Any:
        return self._action_space

    def observation_space(self, params: SuiteParams) -> spaces.Box:
        size = sum(f.features for f in self._fields)
        if self._mask_shape is not None:
            size += int(np.prod(self._mask_shape, dtype=np.int64))
        return spaces.Box(-jnp.inf, jnp.inf, (size,), jnp.float32)

    @property
    def num_actions(self) -> int:
        space = self._action_space
        return int(space.n) if isinstance(space, spaces.Discrete) else int(space.shape[0])
