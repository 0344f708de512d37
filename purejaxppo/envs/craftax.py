"""Craftax through the gymnax interface (the optional `purejaxppo[craftax]` extra), as
`craftax:NAME` ids: `craftax:Craftax-Classic-Symbolic-v1` (a flat symbolic observation),
`craftax:Craftax-Classic-Pixels-v1`, `craftax:Craftax-Symbolic-v1`, `craftax:Craftax-Pixels-v1`.

* Death (health 0, or lava) **terminates** an episode: no bootstrap;
* the step limit (`max_timesteps`, 10,000 by default) **truncates** it: it bootstraps from the
  value of `info["final_observation"]`. Craftax's own auto-reset wrapper gives a discount of 0 at
  the time limit too; here the two are kept apart, as for every environment of purejaxppo;
* rewards are Craftax's: +1 per new achievement, +-0.1 per health point gained or lost;
* the envs that end in one rollout step start again from `reset_pool_size(num_envs)` fresh
  worlds made in that step (one per 16 envs, at least 2; shared when more end at once), as
  Craftax's own optimistic-reset wrapper does (its `reset_ratio`, 16 in its baselines).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import spaces

from purejaxppo.base.errors import ConfigError
from purejaxppo.envs.suite import SuiteEnvironment, SuiteParams, SuiteState, missing_extra

NAMES = (
    "Craftax-Classic-Symbolic-v1",
    "Craftax-Classic-Pixels-v1",
    "Craftax-Symbolic-v1",
    "Craftax-Pixels-v1",
)


def craftax_env_names() -> list[str]:
    """The Craftax environment names (known without the craftax package)."""
    return list(NAMES)


def _make(name: str) -> Any:
    try:
        from craftax.craftax_env import make_craftax_env_from_name
    except ImportError as error:
        raise missing_extra("Craftax", "craftax", error) from error
    return make_craftax_env_from_name(name, auto_reset=False)


class CraftaxEnvironment(SuiteEnvironment):
    """A Craftax env (without its own auto-reset) as a gymnax `Environment`."""

    prefix = "craftax"

    def __init__(self, name: str, reset_pool_share: float = 1 / 16, **params: Any) -> None:
        """`reset_pool_share`: fresh worlds made per step for the envs that ended, as a share
        of num_envs; `params`: Craftax's own (e.g. max_timesteps)."""
        super().__init__(name)
        if not 0 < reset_pool_share <= 1:
            raise ConfigError(
                f"reset_pool_share={reset_pool_share!r}: a share of the envs in (0, 1]. Fix: "
                "e.g. 1/16 (Craftax's own reset ratio)."
            )
        self.reset_pool_share = reset_pool_share
        if name not in NAMES:
            raise ConfigError(
                f"PPOConfig.env_id={self.name!r}: not a Craftax environment. Fix: use one of "
                f"{', '.join('craftax:' + n for n in NAMES)}."
            )
        self._env = _make(name)
        self._params = self._env.default_params.replace(**params)  # e.g. max_timesteps

    def reset_pool_size(self, num_envs: int) -> int:
        """Fresh worlds per step (`envs.pooled_reset_step`): a reset generates a world and costs
        several steps (docs/benchmark-notes.md), so not one per env, but enough to scale with
        them."""
        return min(num_envs, max(2, math.ceil(self.reset_pool_share * num_envs)))

    def reset_env(self, key: jax.Array, params: SuiteParams):
        obs, inner = self._env.reset_env(key, self._params)
        return obs, self.wrap(inner)

    def _died(self, inner: Any) -> jax.Array:
        """Game over for another reason than the step limit."""
        unlimited = self._params.replace(max_timesteps=2**30)
        return self._env.is_terminal(inner, unlimited)

    def step_env(self, key: jax.Array, state: SuiteState, action: Any, params: SuiteParams):
        obs, inner, reward, _, _ = self._env.step_env(key, state.inner, action, self._params)
        return obs, self.wrap(inner, state.time + 1), reward, self._died(inner), {}

    def is_truncated(self, state: SuiteState, params: SuiteParams) -> jax.Array:
        at_limit = state.inner.timestep >= self._params.max_timesteps
        return at_limit & ~self._died(state.inner)

    def action_space(self, params: SuiteParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def observation_space(self, params: SuiteParams) -> spaces.Box:
        inner = self._env.observation_space(self._params)
        return spaces.Box(0.0, 1.0, tuple(inner.shape), jnp.float32)

    @property
    def num_actions(self) -> int:
        return self._env.num_actions
