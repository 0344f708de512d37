"""Jumanji's multi-agent tasks (jumanji 1.1: Cleaner, Connector, JobShop, LevelBasedForaging,
MMST, MultiCVRP, RobotWarehouse, SearchAndRescue) in JaxMARL's `MultiAgentEnv` form, so that
`multi_agent.MultiAgentEnvironment` adapts them as it does JaxMARL's own: `jumanji:NAME`.

* **Agents** are the rows of Jumanji's action: agents, vehicles (MultiCVRP) or machines
  (JobShop, whose factored action is one choice per machine). Each chooses among its row of the
  action mask (Discrete), or a Box action (SearchAndRescue).
* **Observations**: the leaves in `OWN` are per agent and agent i reads row i (the decentralised
  views of LevelBasedForaging, RobotWarehouse and SearchAndRescue); every other leaf is seen by
  every agent. Leaves are encoded as the single-agent adapter does (small integer ranges
  one-hot, other bounded integers scaled). MAPPO's world state is every leaf, whole.
* **Rewards** per agent where Jumanji gives one per agent (LevelBasedForaging, Connector,
  SearchAndRescue); elsewhere every agent gets the team's reward.
* **Dones**: an agent whose discount drops to 0 before the episode ends is done (Connector: its
  path is connected or blocked); the episode ends with Jumanji's last step. An end at the
  task's `time_limit` is a truncation for the agents still active (it bootstraps), as for
  JaxMARL's `max_steps`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from purejaxppo.envs.jumanji import (
    JumanjiEnvironment,
    field_of,
    import_jumanji,
    leaf_at,
    spec_leaves,
)
from purejaxppo.envs.multi_agent import MultiAgentEnvironment

MULTI_AGENT = (
    "Cleaner-v0", "Connector-v3", "JobShop-v0", "LevelBasedForaging-v0", "MMST-v0",
    "MultiCVRP-v0", "RobotWarehouse-v0", "SearchAndRescue-v0",
)  # fmt: skip
# The observation leaves that hold one row per agent, each agent's own (the rest is shared).
OWN = {
    "LevelBasedForaging-v0": ("agents_view",),
    "RobotWarehouse-v0": ("agents_view",),
    "SearchAndRescue-v0": ("searcher_views", "positions"),
}


@struct.dataclass
class JumanjiAgentsState:
    state: Any  # the task's own state (it carries its own key)
    step: jax.Array  # steps since the reset: the time limit reads it
    mask: Any  # [A, num_actions] bool, the legal actions of the last observation; None if none


class JumanjiAgents:
    """A Jumanji multi-agent task with JaxMARL's API (`agents`, `reset`, `step_env`,
    `action_space`, `max_steps`, `get_avail_actions`): see the module docstring."""

    def __init__(self, name: str) -> None:
        jumanji, specs = import_jumanji()
        self.name = f"jumanji:{name}"
        self._env = jumanji.make(name)
        leaves = spec_leaves(self._env.observation_spec, specs)
        action = self._env.action_spec
        self.num_agents = int(action.shape[0])
        self.agents = [f"agent_{i}" for i in range(self.num_agents)]
        self._masked = any(path == ("action_mask",) for path, _ in leaves)
        own = OWN.get(name, ())
        fields = [(field_of(p, s, specs), p[-1] in own) for p, s in leaves if p != ("action_mask",)]
        self._own = tuple(
            dataclasses.replace(f, size=f.size // self.num_agents) for f, mine in fields if mine
        )
        self._shared = tuple(f for f, mine in fields if not mine)
        self._world = tuple(f for f, _ in fields)
        self._action_dtype = action.dtype
        if np.issubdtype(action.dtype, np.floating):
            low, high = np.min(action.minimum), np.max(action.maximum)
            self._space = spaces.Box(float(low), float(high), action.shape[1:], jnp.float32)
        else:  # one choice per agent among its row of the mask (MultiCVRP's bounds overcount)
            mask = next(s for p, s in leaves if p == ("action_mask",))
            self._space = spaces.Discrete(int(mask.shape[-1]))
        self.max_steps = getattr(self._env, "time_limit", None)

    def _observe(self, observation: Any) -> dict[str, jax.Array]:
        shared = [f.encode(leaf_at(observation, f.path)) for f in self._shared]

        def own(i: int) -> list[jax.Array]:
            return [f.encode(leaf_at(observation, f.path)[i]) for f in self._own]

        obs = {a: jnp.concatenate(own(i) + shared) for i, a in enumerate(self.agents)}
        obs["world_state"] = jnp.concatenate(
            [f.encode(leaf_at(observation, f.path)) for f in self._world]
        )
        return obs

    def _wrap(self, state: Any, timestep: Any, step: jax.Array) -> JumanjiAgentsState:
        mask = timestep.observation.action_mask if self._masked else None
        return JumanjiAgentsState(state, step, mask)

    def reset(self, key: jax.Array) -> tuple[dict[str, jax.Array], JumanjiAgentsState]:
        state, timestep = self._env.reset(key)
        return self._observe(timestep.observation), self._wrap(state, timestep, jnp.int32(0))

    def step_env(self, key: jax.Array, state: JumanjiAgentsState, actions: dict[str, Any]):
        del key  # a Jumanji state carries its own key
        action = jnp.stack([actions[a] for a in self.agents]).astype(self._action_dtype)
        inner, timestep = self._env.step(state.state, action)
        last = timestep.last()
        shape = (self.num_agents,)
        done = last | (jnp.broadcast_to(timestep.discount, shape) == 0.0)
        reward = jnp.broadcast_to(timestep.reward, shape).astype(jnp.float32)
        rewards = {a: reward[i] for i, a in enumerate(self.agents)}
        dones = {a: done[i] for i, a in enumerate(self.agents)} | {"__all__": last}
        new_state = self._wrap(inner, timestep, state.step + 1)
        return self._observe(timestep.observation), new_state, rewards, dones, {}

    def action_space(self, agent: str) -> Any:
        return self._space

    def animate(self, states: list[JumanjiAgentsState], path: str) -> None:
        """A GIF of one episode with the task's own drawing (matplotlib)."""
        self._env.animate([state.state for state in states], save_path=path)

    def get_avail_actions(self, state: JumanjiAgentsState) -> dict[str, jax.Array]:
        if state.mask is None:
            raise NotImplementedError  # every action is always legal (a Box action)
        return {a: state.mask[i] for i, a in enumerate(self.agents)}


def make_jumanji(name: str) -> Any:
    """The adapter of `jumanji:NAME`: a multi-agent task (`MULTI_AGENT`) as a multi-agent env,
    any other as `JumanjiEnvironment`."""
    if name in MULTI_AGENT:
        agents = JumanjiAgents(name)
        return MultiAgentEnvironment(agents, agents.name)
    return JumanjiEnvironment(name)
