"""XLand-MiniGrid's meta-RL grids through the gymnax interface (the `purejaxppo[xminigrid]`
extra), as `xminigrid:XLand-MiniGrid-R1-9x9` or `xminigrid:XLand-MiniGrid-R1-9x9@BENCHMARK`
(BENCHMARK one of xminigrid's: trivial-21k, the default, small-1m, medium-1m, ...).

One gymnax episode is a **trial**: a ruleset (goal, rules, objects) sampled from the benchmark
at reset, then `episodes_per_trial` episodes of the grid under that same ruleset, each ending
when its goal is met or its `max_steps` run out, the next starting on a fresh layout at once.
The agent's memory (network="gru") carries across the episodes of a trial, as in RL^2, and the
trial **terminates** after its last episode (no bootstrap: nothing follows it). The
observation is the one-hot egocentric view, flattened, then the previous action one-hot (zeros
at a trial's start) and the previous reward: what a recurrent agent needs to tell what the
ruleset rewards.

The benchmarks are files that xminigrid downloads once into `$XLAND_MINIGRID_DATA`
(`~/.xland_minigrid`); where it cannot, the env is refused with that reason.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from purejaxppo.base.errors import ConfigError
from purejaxppo.envs.suite import SuiteEnvironment, SuiteParams, SuiteState
from purejaxppo.envs.xminigrid import (
    NUM_COLORS,
    NUM_TILES,
    XMiniGridEnvironment,
    import_xminigrid,
    one_hot_view,
)

DEFAULT_BENCHMARK = "trivial-21k"
NUM_ACTIONS = 6


@struct.dataclass
class Trial:
    timestep: Any  # xminigrid's TimeStep of the episode under way
    ruleset: Any  # the trial's RuleSet
    episodes: jax.Array  # episodes of this trial finished so far


class XLandEnvironment(SuiteEnvironment):
    """Trials of an XLand-MiniGrid grid under rulesets of a benchmark, with Discrete(6) actions."""

    prefix = "xminigrid"

    def __init__(self, name: str, episodes_per_trial: int = 10, **kwargs: Any) -> None:
        super().__init__(name)
        grid_name, _, benchmark = name.partition("@")
        benchmark = benchmark or DEFAULT_BENCHMARK
        xminigrid = import_xminigrid()
        from xminigrid import benchmarks

        grids = [n for n in xminigrid.registered_environments() if n.startswith("XLand")]
        if grid_name not in grids:
            raise ConfigError(
                f"PPOConfig.env_id={self.name!r}: XLand-MiniGrid has no grid {grid_name!r}. "
                f"Fix: use one of {', '.join(grids)} (as xminigrid:NAME[@BENCHMARK])."
            )
        if benchmark not in benchmarks.registered_benchmarks():
            raise ConfigError(
                f"PPOConfig.env_id={self.name!r}: xminigrid has no benchmark {benchmark!r}. Fix: "
                f"use one of {', '.join(benchmarks.registered_benchmarks())}."
            )
        if not isinstance(episodes_per_trial, int) or episodes_per_trial < 1:
            raise ConfigError(
                f"episodes_per_trial={episodes_per_trial!r}: must be an integer >= 1. Fix: "
                "pass e.g. episodes_per_trial=10."
            )
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # its download progress
                self._benchmark = benchmarks.load_benchmark(benchmark)
        except Exception as error:
            raise ConfigError(
                f"PPOConfig.env_id={self.name!r}: could not load the benchmark {benchmark!r} "
                f"({type(error).__name__}: {error}). xminigrid downloads it once into "
                f"{benchmarks.DATA_PATH} (XLAND_MINIGRID_DATA). Fix: allow that download, or "
                "copy the file there from a machine that has it."
            ) from error
        self._env, self._params = xminigrid.make(grid_name, **kwargs)
        self.episodes_per_trial = episodes_per_trial

    def _observe(self, timestep: Any, action: jax.Array, reward: jax.Array) -> jax.Array:
        view = one_hot_view(timestep.observation).reshape(-1)
        previous = jax.nn.one_hot(action, NUM_ACTIONS)  # all zeros for action -1
        return jnp.concatenate([view, previous, jnp.reshape(reward, (1,)).astype(jnp.float32)])

    def reset_env(self, key: jax.Array, params: SuiteParams):
        task_key, layout_key = jax.random.split(key)
        ruleset = self._benchmark.sample_ruleset(task_key)
        timestep = self._env.reset(self._params.replace(ruleset=ruleset), layout_key)
        obs = self._observe(timestep, jnp.int32(-1), jnp.float32(0.0))
        return obs, self.wrap(Trial(timestep, ruleset, jnp.zeros((), jnp.int32)))

    def step_env(self, key: jax.Array, state: SuiteState, action: Any, params: SuiteParams):
        trial = state.inner
        grid_params = self._params.replace(ruleset=trial.ruleset)
        stepped = self._env.step(grid_params, trial.timestep, action)
        ended = stepped.last()
        fresh = self._env.reset(grid_params, key)  # the next episode's layout, same ruleset
        timestep = jax.tree.map(lambda f, s: jnp.where(ended, f, s), fresh, stepped)
        episodes = trial.episodes + ended.astype(jnp.int32)
        terminated = episodes >= self.episodes_per_trial
        obs = self._observe(timestep, action, stepped.reward)
        new_state = self.wrap(Trial(timestep, trial.ruleset, episodes), state.time + 1)
        return obs, new_state, stepped.reward, terminated, {}

    def action_space(self, params: SuiteParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(NUM_ACTIONS)

    def observation_space(self, params: SuiteParams) -> spaces.Box:
        view = self._params.view_size
        size = view * view * (NUM_TILES + NUM_COLORS) + NUM_ACTIONS + 1
        return spaces.Box(-jnp.inf, jnp.inf, (size,), jnp.float32)

    @property
    def num_actions(self) -> int:
        return NUM_ACTIONS


def make_xminigrid(name: str, **kwargs: Any) -> SuiteEnvironment:
    """The adapter for `xminigrid:NAME`: trials of an XLand-MiniGrid grid (NAME starting with
    XLand, optionally NAME@BENCHMARK) or a MiniGrid room."""
    if name.startswith("XLand"):
        return XLandEnvironment(name, **kwargs)
    return XMiniGridEnvironment(name, **kwargs)
