"""XLand-MiniGrid's MiniGrid rooms through the gymnax interface (the optional
`purejaxppo[xminigrid]` extra), as `xminigrid:NAME` ids (e.g. `xminigrid:MiniGrid-Empty-8x8`;
`purejaxppo envs` lists them when the extra is installed).

* An episode that reaches its goal **terminates** (xminigrid's discount 0): no bootstrap;
* one that runs out of steps (xminigrid's `max_steps`, 4 x height x width by default) is
  **truncated** (a last step with discount 1): it bootstraps from the value of
  `info["final_observation"]`, as for every gymnax environment here;
* the observation, the agent's egocentric view of [tile, colour] ids, is given one-hot per id:
  float32 [view, view, 13 + 12] (an MLP flattens it, the CNN reads it as an image).

The suite's meta-RL grids (`xminigrid:XLand-MiniGrid-...`) are `purejaxppo.envs.xland`'s.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import spaces

from purejaxppo.base.errors import ConfigError
from purejaxppo.envs.suite import SuiteEnvironment, SuiteParams, SuiteState, missing_extra

NUM_TILES, NUM_COLORS = 13, 12  # xminigrid.core.constants; checked against it on build


def import_xminigrid():
    try:
        import xminigrid
        from xminigrid.core import constants
    except ImportError as error:
        raise missing_extra("XLand-MiniGrid", "xminigrid", error) from error
    assert (constants.NUM_TILES, constants.NUM_COLORS) == (NUM_TILES, NUM_COLORS)
    return xminigrid


def xminigrid_env_names() -> list[str]:
    """The suite's environments (needs xminigrid): its MiniGrid rooms, then its XLand-MiniGrid
    meta-RL grids (`purejaxppo.envs.xland`)."""
    names = import_xminigrid().registered_environments()
    return sorted(n for n in names if n.startswith("MiniGrid")) + [
        n for n in names if n.startswith("XLand")
    ]


def one_hot_view(grid: jax.Array) -> jax.Array:
    """xminigrid's [view, view, 2] (tile, colour) ids -> float32 [view, view, 13 + 12]."""
    grid = grid.astype(jnp.int32)
    return jnp.concatenate(
        [jax.nn.one_hot(grid[..., 0], NUM_TILES), jax.nn.one_hot(grid[..., 1], NUM_COLORS)],
        axis=-1,
    )


class XMiniGridEnvironment(SuiteEnvironment):
    """An XLand-MiniGrid room as a gymnax `Environment` with Discrete(6) actions."""

    prefix = "xminigrid"

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name)
        xminigrid = import_xminigrid()
        if name.startswith("XLand"):
            raise ConfigError(
                f"{name!r} is an XLand-MiniGrid grid, which needs a ruleset per trial. Fix: use "
                "purejaxppo.envs.xland.XLandEnvironment (what the xminigrid:XLand-... ids build)."
            )
        if name not in (names := xminigrid_env_names()):
            raise ConfigError(
                f"PPOConfig.env_id={self.name!r}: XLand-MiniGrid has no environment {name!r}. "
                f"Fix: use one of {', '.join(names)} (as xminigrid:NAME)."
            )
        self._env, self._params = xminigrid.make(name, **kwargs)

    def _observe(self, timestep: Any) -> jax.Array:
        return one_hot_view(timestep.observation)

    def reset_env(self, key: jax.Array, params: SuiteParams):
        timestep = self._env.reset(self._params, key)
        return self._observe(timestep), self.wrap(timestep)

    def step_env(self, key: jax.Array, state: SuiteState, action: Any, params: SuiteParams):
        del key  # the suite's dynamics are deterministic given the state
        timestep = self._env.step(self._params, state.inner, action)
        terminated = timestep.last() & (timestep.discount == 0.0)
        new_state = self.wrap(timestep, state.time + 1)
        return self._observe(timestep), new_state, timestep.reward, terminated, {}

    def is_truncated(self, state: SuiteState, params: SuiteParams) -> jax.Array:
        return state.inner.last() & (state.inner.discount > 0.0)

    def action_space(self, params: SuiteParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def observation_space(self, params: SuiteParams) -> spaces.Box:
        view = self._params.view_size
        return spaces.Box(0.0, 1.0, (view, view, NUM_TILES + NUM_COLORS), jnp.float32)

    @property
    def num_actions(self) -> int:
        return self._env.num_actions(self._params)
