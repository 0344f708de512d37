"""Multi-agent environments (JaxMARL's `MultiAgentEnv` API) as one gymnax environment whose
arrays carry an agent axis: observations [A, D], actions [A], rewards and dones [A].

The training loop then runs every agent of every env in one batch: IPPO with parameters shared
across agents, the agent's id in its observation. Each agent's observation is

    [its own observation, flattened and zero-padded to the largest | agent id one-hot (A) |
     legal actions (num_actions), where the env has masks or the agents' action counts differ]

and, with a centralised critic (MAPPO, `PPOConfig(critic="centralised")`), followed by the
critic's part `[world state | agent id one-hot]` (`obs_split` marks where it starts): the env's
own world state where it gives one (SMAX's "world_state"), else every agent's observation.

Dones: an agent can be done before its episode ends (SMAX: it died); it stays done and acts
with its legal actions (no-op) until the episode ends. The episode ends when JaxMARL's
`__all__` is set or every agent is done; then every agent is done. JaxMARL ends episodes at
`max_steps` as if they terminated: here an episode that ends at `max_steps` is truncated for
every agent not done before that step (the value bootstraps), and terminated for the others;
a SMAX battle decided at that step (one side gone) terminates. MABrax's limit is its
`episode_length`, counted by brax (`info["steps"]`), and a brax fall at that step terminates.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from purejaxppo.base.errors import ConfigError


@struct.dataclass
class MultiAgentState(environment.EnvState):
    inner: Any  # the JaxMARL env's state
    done: jax.Array  # [A] bool: the agents done before the episode's end (e.g. dead)


def _size(shape: tuple[int, ...]) -> int:
    return math.prod(int(d) for d in shape)


def _legal_actions_method(env: Any, state: Any) -> Any:
    """The env's method giving each agent's legal actions (SMAX, JaxNav: get_avail_actions;
    Hanabi: get_legal_moves), or None where every action is always legal."""
    for name in ("get_avail_actions", "get_legal_moves"):
        method = getattr(env, name, None)
        if method is None:
            continue
        try:
            jax.eval_shape(method, state)
        except NotImplementedError:
            continue
        return method
    return None


def _steps(state: Any) -> jax.Array | None:
    """The step count of a JaxMARL state (`step`, or that of the state it wraps; MABrax's brax
    state: `info["steps"]`, in simulator steps)."""
    for candidate in (state, getattr(state, "state", None)):
        step = getattr(candidate, "step", None)
        if step is not None:
            return step
    return _brax_info(state, "steps")


def _brax_info(state: Any, name: str) -> jax.Array | None:
    """An entry of a brax state's `info` (its EpisodeWrapper's "steps" and "truncation")."""
    info = getattr(state, "info", None)
    return info.get(name) if isinstance(info, dict) else None


class MultiAgentEnvironment(environment.Environment):
    """A JaxMARL `MultiAgentEnv` as a gymnax env with an agent axis (see the module docstring)."""

    def __init__(self, env: Any, name: str, centralised: bool = False) -> None:
        super().__init__()
        self.env = env
        self._name = name
        self.agents = tuple(env.agents)
        self.num_agents = len(self.agents)
        self.centralised = centralised
        obs, state = jax.eval_shape(env.reset, jax.random.key(0))
        self.own_size = max(_size(obs[a].shape) for a in self.agents)
        self._legal = _legal_actions_method(env, state)
        self._init_actions([env.action_space(a) for a in self.agents])
        # The mask is read only where some action can be illegal.
        self.action_mask_in_obs = self.discrete and (
            self._legal is not None or len(set(self.action_counts)) > 1
        )
        self.actor_size = (
            self.own_size + self.num_agents + (self.action_size if self.action_mask_in_obs else 0)
        )
        world = obs.get("world_state") if isinstance(obs, dict) else None
        self.world_size = (
            _size(world.shape) if world is not None else self.num_agents * self.own_size
        )
        self.obs_split = self.actor_size if centralised else 0
        critic_size = self.world_size + self.num_agents if centralised else 0
        self.size = self.actor_size + critic_size
        # MABrax: `episode_length` in simulator steps, `action_repeat` of them per env step.
        max_steps = getattr(env, "max_steps", None) or getattr(env, "episode_length", None)
        self.max_steps = (
            int(max_steps) if max_steps is not None and _steps(state) is not None else None
        )
        self.repeat = int(getattr(env, "action_repeat", 1) or 1)

    @property
    def time_limit_steps(self) -> int:
        """`EnvSpec.time_limit`: the env steps to the time limit where the step count is known,
        else 0."""
        return -(-self.max_steps // self.repeat) if self.max_steps else 0

    def _init_actions(self, action_spaces: list[Any]) -> None:
        kinds = {type(space).__name__ for space in action_spaces}
        if kinds == {"Discrete"}:
            self.discrete = True
            self.action_counts = tuple(int(space.n) for space in action_spaces)
            self.action_size = max(self.action_counts)
        elif kinds == {"Box"}:
            self.discrete = False
            self.action_counts = tuple(_size(space.shape) for space in action_spaces)
            self.action_size = max(self.action_counts)
            self.action_low = min(float(np.min(space.low)) for space in action_spaces)
            self.action_high = max(float(np.max(space.high)) for space in action_spaces)
        else:
            raise ConfigError(
                f"PPOConfig.env_id: the agents of {self._name!r} have action spaces "
                f"{sorted(kinds)}; only Discrete or Box ones (all of one kind) are supported. "
                "Fix: choose another multi-agent environment."
            )

    @property
    def num_actions(self) -> int:
        return self.action_size

    @property
    def name(self) -> str:
        return self._name

    @property
    def default_params(self) -> None:
        return None  # JaxMARL envs keep their settings in the env object

    def with_critic(self, centralised: bool) -> MultiAgentEnvironment:
        """This env with a centralised critic's part in the observations, or without it."""
        if centralised == self.centralised:
            return self
        return MultiAgentEnvironment(self.env, self._name, centralised)

    # ------------------------------------------------------------------ observations and actions
    def legal_actions(self, state: Any) -> jax.Array:
        """[A, num_actions] float: 1 where the agent may take the action."""
        counts = jnp.asarray(self.action_counts)[:, None]
        legal = jnp.arange(self.action_size)[None, :] < counts
        if self._legal is not None:
            masks = self._legal(state)
            rows = [jnp.asarray(masks[a], bool).reshape(-1) for a in self.agents]
            padded = [jnp.pad(r, (0, self.action_size - r.shape[0])) for r in rows]
            legal = legal & jnp.stack(padded)
        return legal.astype(jnp.float32)

    def observe(self, obs: dict[str, Any], state: Any) -> jax.Array:
        """The agents' observations [A, size] (see the module docstring)."""
        own = [jnp.asarray(obs[a], jnp.float32).reshape(-1) for a in self.agents]
        own = jnp.stack([jnp.pad(o, (0, self.own_size - o.shape[0])) for o in own])
        ids = jnp.eye(self.num_agents, dtype=jnp.float32)
        parts = [own, ids]
        if self.action_mask_in_obs:
            parts.append(self.legal_actions(state))
        if self.centralised:
            world = obs.get("world_state")
            world = own.reshape(-1) if world is None else jnp.asarray(world, jnp.float32)
            world = jnp.broadcast_to(world.reshape(-1), (self.num_agents, self.world_size))
            parts += [world, ids]
        return jnp.concatenate(parts, axis=-1)

    def env_actions(self, action: jax.Array) -> dict[str, jax.Array]:
        """The actions [A] (or [A, num_actions]) as JaxMARL takes them: one per agent, a Box
        action cut to the agent's own dimensions."""
        if self.discrete:
            return {a: action[i] for i, a in enumerate(self.agents)}
        shapes = [self.env.action_space(a).shape for a in self.agents]
        return {
            a: action[i, : self.action_counts[i]].reshape(shapes[i])
            for i, a in enumerate(self.agents)
        }

    # ------------------------------------------------------------------ gymnax interface
    def reset_env(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, MultiAgentState]:
        obs, inner = self.env.reset(key)
        fresh = MultiAgentState(
            jnp.zeros((), jnp.int32), inner, jnp.zeros((self.num_agents,), bool)
        )
        return self.observe(obs, inner), fresh

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, MultiAgentState]:
        return self.reset_env(key, params)

    def step(self, key: jax.Array, state: MultiAgentState, action: jax.Array, params: Any = None):
        """One step of every agent, with an automatic reset when the episode ends: (obs [A, D],
        state, reward [A], terminated [A], truncated [A], info with "final_observation")."""
        key_step, key_reset = jax.random.split(key)
        obs, inner, rewards, dones, info = self.env.step_env(
            key_step, state.inner, self.env_actions(action)
        )
        reward = jnp.stack([jnp.asarray(rewards[a], jnp.float32) for a in self.agents])
        agent_done = jnp.stack([jnp.asarray(dones[a], bool) for a in self.agents])
        ended = jnp.asarray(dones["__all__"], bool) | jnp.all(agent_done)
        time_up = jnp.zeros((), bool)
        if self.max_steps is not None:
            time_up = ended & (_steps(inner) >= self.max_steps)
            if (cut := _brax_info(inner, "truncation")) is not None:
                time_up &= cut > 0  # brax: a fall at the last step terminates
            if self.reports_wins:  # a battle decided at the last step ended, it was not cut
                time_up &= ~self.decided(inner)
        # An agent done before this step stays terminated; the others end with the episode.
        terminated = (agent_done & state.done) | ((agent_done | ended) & ~time_up)
        truncated = jnp.broadcast_to(time_up, (self.num_agents,)) & ~terminated
        final, stepped = self.observe(obs, inner), inner
        fresh_obs, fresh_inner = self.env.reset(key_reset)
        inner = jax.tree.map(lambda r, s: jax.lax.select(ended, r, s), fresh_inner, inner)
        next_obs = jnp.where(ended, self.observe(fresh_obs, fresh_inner), final)
        time = jnp.where(ended, 0, state.time + 1)
        done = agent_done & ~ended
        info = {"final_observation": final, "terminated": terminated, "truncated": truncated,
                **self._shaped(info)}  # fmt: skip
        if self.reports_wins:
            info["won"] = ended & self.won(stepped)
        return (
            next_obs,
            MultiAgentState(time, inner, done),
            reward,
            terminated,
            truncated,
            info,
        )

    def _shaped(self, info: Any) -> dict[str, jax.Array]:
        """{"shaped_reward": [A]} where the env gives one (Overcooked), else {}."""
        shaped = info.get("shaped_reward") if isinstance(info, dict) else None
        if not isinstance(shaped, dict):
            return {}
        return {"shaped_reward": jnp.stack([jnp.asarray(shaped[a], jnp.float32).reshape(())
                                            for a in self.agents])}  # fmt: skip

    @functools.cached_property
    def gives_shaped_reward(self) -> bool:
        """The env's step says, per agent, a shaped reward besides its own (JaxMARL's Overcooked:
        `info["shaped_reward"]`), which `PPOConfig.reward_shaping` adds to what agents learn."""

        def info_of(key: jax.Array) -> Any:
            _, state = self.env.reset(key)
            shape = (self.num_agents,) if self.discrete else (self.num_agents, self.action_size)
            actions = self.env_actions(jnp.zeros(shape, jnp.int32 if self.discrete else float))
            return self._shaped(self.env.step_env(key, state, actions)[-1])

        return bool(jax.eval_shape(info_of, jax.random.key(0)))

    @property
    def reports_wins(self) -> bool:
        """SMAX: an episode is won when every enemy is dead and an ally is alive."""
        return hasattr(self.env, "num_allies") and hasattr(self.env, "num_enemies")

    def _sides_alive(self, inner: Any) -> tuple[jax.Array, jax.Array]:
        """SMAX: whether any ally, and any enemy, is alive."""
        alive = getattr(inner, "state", inner).unit_alive
        allies = self.env.num_allies
        return jnp.any(alive[:allies]), jnp.any(alive[allies:])

    def won(self, inner: Any) -> jax.Array:
        allies, enemies = self._sides_alive(inner)
        return allies & ~enemies

    def decided(self, inner: Any) -> jax.Array:
        """SMAX: one side has no unit left (a win or a loss, not the time limit)."""
        allies, enemies = self._sides_alive(inner)
        return ~allies | ~enemies

    @property
    def drawing(self) -> str | None:
        """Which drawing `animate` uses: "own" (Jumanji's tasks), "mpe", "overcooked" or None."""
        if hasattr(self.env, "animate"):  # `jumanji_agents.JumanjiAgents`
            return "own"
        for prefix, drawing in (("MPE_", "mpe"), ("overcooked-", "overcooked")):
            if self._name.startswith(prefix):
                return drawing
        return None

    def check_drawing(self) -> None:
        """A ConfigError, before any work, when `animate` cannot draw this env."""
        if self.drawing is None:
            raise ConfigError(
                f"--gif: {self._name} has no drawing here (Jumanji's multi-agent tasks, MPE and "
                "Overcooked have). Fix: drop --gif (the returns are evaluated as usual)."
            )

    def animate(self, states: list[MultiAgentState], path: str) -> None:
        """A GIF of one episode's `states` with the suite's own drawing (matplotlib)."""
        self.check_drawing()
        inner = [state.inner for state in states]
        if self.drawing == "own":
            self.env.animate(inner, path)
        elif self.drawing == "mpe":
            from jaxmarl.environments.mpe.mpe_visualizer import MPEVisualizer

            with contextlib.redirect_stdout(io.StringIO()):  # it prints as it draws
                MPEVisualizer(self.env, inner).animate(save_fname=path, view=False)
        else:
            from jaxmarl.viz.overcooked_visualizer import OvercookedVisualizer

            OvercookedVisualizer().animate(inner, self.env.agent_view_size, path)
        import matplotlib.pyplot as plt

        plt.close("all")

    def is_truncated(self, state: MultiAgentState, params: Any = None) -> jax.Array:
        return jnp.zeros((), bool)  # `step` says which episode ends are truncations

    def observation_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self.num_agents, self.size), jnp.float32)

    def action_space(self, params: Any = None) -> Any:
        if self.discrete:
            return spaces.Discrete(self.action_size)
        return spaces.Box(self.action_low, self.action_high, (self.action_size,), jnp.float32)


def adapt(env: Any) -> Any:
    """`env` as given, or adapted when it is a JaxMARL `MultiAgentEnv` of yours."""
    if isinstance(env, environment.Environment) or not hasattr(env, "agents"):
        return env
    return MultiAgentEnvironment(env, getattr(env, "name", type(env).__name__))


def with_critic(env: Any, critic: str, env_id: str) -> Any:
    """`env` with the critic `PPOConfig.critic` asks for: a centralised one needs a multi-agent
    env (this module's)."""
    if critic == "local":
        return env.with_critic(False) if isinstance(env, MultiAgentEnvironment) else env
    if not isinstance(env, MultiAgentEnvironment):
        raise ConfigError(
            f"PPOConfig.critic={critic!r}: {env_id} is a single-agent environment, and a "
            "centralised critic reads the state of every agent. Fix: critic='local', or a "
            "multi-agent env such as jaxmarl:MPE_simple_spread_v3."
        )
    return env.with_critic(True)


@functools.cache
def make_jaxmarl(name: str) -> MultiAgentEnvironment:
    """The adapter for `jaxmarl:NAME` (see `jaxmarl_suite`)."""
    from purejaxppo.envs.jaxmarl_suite import build

    return MultiAgentEnvironment(build(name), name)
