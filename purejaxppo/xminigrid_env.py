"""XLand-MiniGrid's MiniGrid rooms through the gymnax interface (the optional
`purejaxppo[xminigrid]` extra), as `xminigrid:NAME` ids (e.g. `xminigrid:MiniGrid-Empty-8x8`;
`purejaxppo envs` lists them when the extra is installed).

* An episode that reaches its goal **terminates** (xminigrid's discount 0): no bootstrap;
* one that runs out of steps (xminigrid's `max_steps`, 4 x height x width by default) is
  **truncated** (a last step with discount 1): it bootstraps from the value of
  `info["final_observation"]`, as for every gymnax environment here;
* the observation, the agent's egocentric view of [tile, colour] ids, is given one-hot per id:
  float32 [view, view, 13 + 12] (an MLP flattens it, the CNN reads it as an image).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from purejaxppo.errors import ConfigError

NUM_TILES, NUM_COLORS = 13, 12  # xminigrid.core.constants; checked against it on build


@struct.dataclass
class XMiniGridState(environment.EnvState):
    timestep: Any  # xminigrid's TimeStep (its state, step type, reward, discount, observation)


@struct.dataclass
class XMiniGridParams(environment.EnvParams):
    # The suite ends its episodes itself (its `max_steps`); gymnax's limit never fires.
    max_steps_in_episode: int = 2**30


def _import_xminigrid():
    try:
        import xminigrid
        from xminigrid.core import constants
    except ImportError as error:
        raise ConfigError(
            f"XLand-MiniGrid environments need the xminigrid package ({error}). Fix: pip install "
            "'purejaxppo[xminigrid]'."
        ) from error
    assert (constants.NUM_TILES, constants.NUM_COLORS) == (NUM_TILES, NUM_COLORS)
    return xminigrid


def xminigrid_env_names() -> list[str]:
    """The suite's MiniGrid environments (needs xminigrid). Its XLand-MiniGrid meta-RL
    environments are left out: each episode needs a ruleset sampled from a benchmark that
    xminigrid downloads, which this adapter does not do yet."""
    return sorted(
        n for n in _import_xminigrid().registered_environments() if n.startswith("MiniGrid")
    )


class XMiniGridEnvironment(environment.Environment[XMiniGridState, XMiniGridParams]):
    """An XLand-MiniGrid env as a gymnax `Environment` with Discrete(6) actions."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__()
        xminigrid = _import_xminigrid()
        if name.startswith("XLand"):
            raise ConfigError(
                f"PPOConfig.env_id={'xminigrid:' + name!r}: XLand-MiniGrid's meta-RL "
                "environments need rulesets from a benchmark that xminigrid downloads; this "
                "adapter does not sample them yet. Fix: use a MiniGrid room (purejaxppo envs)."
            )
        if name not in xminigrid_env_names():
            raise ConfigError(
                f"PPOConfig.env_id={'xminigrid:' + name!r}: XLand-MiniGrid has no environment "
                f"{name!r}. Fix: use one of {', '.join(xminigrid_env_names())} (as "
                "xminigrid:NAME)."
            )
        self.suite_name = name
        self._env, self._params = xminigrid.make(name, **kwargs)

    @property
    def name(self) -> str:
        return f"xminigrid:{self.suite_name}"

    @property
    def default_params(self) -> XMiniGridParams:
        return XMiniGridParams()

    def _observe(self, timestep: Any) -> jax.Array:
        grid = timestep.observation.astype(jnp.int32)
        return jnp.concatenate(
            [jax.nn.one_hot(grid[..., 0], NUM_TILES), jax.nn.one_hot(grid[..., 1], NUM_COLORS)],
            axis=-1,
        )

    def reset_env(self, key: jax.Array, params: XMiniGridParams):
        timestep = self._env.reset(self._params, key)
        state = XMiniGridState(time=jnp.zeros((), jnp.int32), timestep=timestep)
        return self._observe(timestep), state

    def step_env(self, key: jax.Array, state: XMiniGridState, action: Any, params: XMiniGridParams):
        del key  # the suite's dynamics are deterministic given the state
        timestep = self._env.step(self._params, state.timestep, action)
        terminated = timestep.last() & (timestep.discount == 0.0)
        new_state = XMiniGridState(time=state.time + 1, timestep=timestep)
        return self._observe(timestep), new_state, timestep.reward, terminated, {}

    def is_truncated(self, state: XMiniGridState, params: XMiniGridParams) -> jax.Array:
        return state.timestep.last() & (state.timestep.discount > 0.0)

    def action_space(self, params: XMiniGridParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self._env.num_actions(self._params))

    def observation_space(self, params: XMiniGridParams) -> spaces.Box:
        view = self._params.view_size
        return spaces.Box(0.0, 1.0, (view, view, NUM_TILES + NUM_COLORS), jnp.float32)

    @property
    def num_actions(self) -> int:
        return self._env.num_actions(self._params)

    @property
    def max_steps(self) -> int:
        """The suite's own step limit of an episode."""
        return int(self._params.max_steps)
