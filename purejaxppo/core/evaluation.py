"""Evaluate trained policies: whole episodes, vmapped over episodes (and runs), in one jit; and
the animation of one episode."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.base.errors import ConfigError, as_key, check_positive_int
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.normalization import RunningMeanStd
from purejaxppo.core.rollout import env_action, episode_ended, team_reward
from purejaxppo.core.trainer import TrainFunctions, make_train_functions
from purejaxppo.envs.multi_agent import MultiAgentEnvironment
from purejaxppo.envs.registry import make_env


@dataclasses.dataclass(frozen=True)
class EvalResult:
    returns: np.ndarray  # [..., num_episodes] undiscounted return of each episode (team's)
    lengths: np.ndarray  # [..., num_episodes]
    # A multi-agent env's: [..., num_episodes, agents], each agent's own return (`returns` is
    # their mean); None for a single agent.
    agent_returns: np.ndarray | None = None


def _policy_action(
    functions: TrainFunctions, params, obs_stats, obs, memory, key, deterministic: bool
):
    """One env's action for `obs` by the rollout's policy step (`agent.act` on a batch of one),
    and the network's memory after it ([1, ...]; None for a feed-forward network)."""
    obs = obs.astype(jnp.float32)
    if functions.config.normalize_obs:
        obs = obs_stats.normalize(obs)
    policy, memory, _ = functions.agent.act(params, memory, obs[None])
    action = policy.mode() if deterministic else policy.sample(seed=key)
    return env_action(functions.spec, action)[0], memory


def make_episode(functions: TrainFunctions, deterministic: bool = True):
    """`episode(params, obs_stats, key) -> (return, length, returns)`: one full episode of one
    policy; `returns` [*agents] is each agent's return (the return itself for one agent)."""
    env, env_params, spec = functions.env, functions.env_params, functions.spec

    def episode(params, obs_stats, key):
        reset_key, loop_key = jax.random.split(key)
        obs, state = env.reset(reset_key, env_params)

        def running(carry):
            return ~carry[4]

        def step(carry):
            obs, state, total, length, _, key, memory = carry
            key, act_key, step_key = jax.random.split(key, 3)
            action, memory = _policy_action(
                functions, params, obs_stats, obs, memory, act_key, deterministic
            )
            obs, state, reward, terminated, truncated, _ = env.step(
                step_key, state, action, env_params
            )
            done = jnp.logical_or(terminated, truncated)
            memory = functions.agent.after_step(memory, done[None])
            ended = episode_ended(done, spec)
            return obs, state, total + reward, length + 1, ended, key, memory

        init = (
            obs,
            state,
            jnp.zeros(spec.agents, jnp.float32),
            jnp.zeros((), jnp.int32),
            jnp.array(False),
            loop_key,
            functions.agent.initial_memory((1, *functions.spec.agents)),
        )
        _, _, total, length, _, _, _ = jax.lax.while_loop(running, step, init)
        return team_reward(total, spec), length, total

    return episode


def evaluate(
    config: PPOConfig,
    params: Any,
    key: jax.Array | int = 0,
    num_episodes: int = 10,
    deterministic: bool = True,
    obs_stats: RunningMeanStd | None = None,
    env: Any = None,
    env_params: Any = None,
    network: Any = None,
    randomize: Any = None,
) -> EvalResult:
    """Run `num_episodes` whole episodes with the policy `params`, vmapped over episodes.

    `params` (and `obs_stats`, needed when config.normalize_obs) may carry a leading runs axis,
    as in `RunResult.params`; results then have shape [runs, num_episodes]. Deterministic
    evaluation takes the policy's mode (argmax, or the Gaussian mean clipped to the bounds).
    `network`: the network of yours the policy was trained with (pass it again); `randomize`:
    evaluate under parameters drawn at every episode's reset (as in training).
    """
    check_positive_int("num_episodes", num_episodes, 10)
    if obs_stats is None and config.normalize_obs:
        raise ConfigError(
            "obs_stats=None: this config normalises observations (normalize_obs=True), and the "
            "policy was trained on normalised ones. Fix: pass the run's obs_stats (RunResult."
            "obs_stats, or load_final(run_dir))."
        )
    functions = make_train_functions(config, env, env_params, network=network, randomize=randomize)
    if obs_stats is None:
        obs_stats = RunningMeanStd.create(functions.spec.obs_shape)
    key = as_key(key)
    episode = jax.vmap(make_episode(functions, deterministic), in_axes=(None, None, 0))
    reference = jax.tree.leaves(jax.eval_shape(functions.init_params, jax.random.key(0)))[0]
    has_runs_axis = jax.tree.leaves(params)[0].ndim == reference.ndim + 1

    if has_runs_axis:
        num_runs = jax.tree.leaves(params)[0].shape[0]
        if jax.tree.leaves(obs_stats)[0].ndim == len(functions.spec.obs_shape):
            obs_stats = jax.tree.map(lambda x: jnp.broadcast_to(x, (num_runs, *x.shape)), obs_stats)
        keys = jax.random.split(key, (num_runs, num_episodes))
        run = jax.jit(jax.vmap(episode))
    else:
        keys = jax.random.split(key, num_episodes)
        run = jax.jit(episode)
    returns, lengths, agents = jax.device_get(run(params, obs_stats, keys))
    return EvalResult(returns, lengths, agents if functions.spec.num_agents else None)


def episode_states(config: PPOConfig, params: Any, key: jax.Array, obs_stats=None) -> list[Any]:
    """The env states of one deterministic episode, for rendering (one policy, no runs axis)."""
    functions = make_train_functions(config)
    env, env_params = functions.env, functions.env_params
    if obs_stats is None:
        obs_stats = RunningMeanStd.create(functions.spec.obs_shape)
    reset_key, key = jax.random.split(key)
    obs, state = env.reset(reset_key, env_params)
    act = jax.jit(lambda o, m, k: _policy_action(functions, params, obs_stats, o, m, k, True))
    step = jax.jit(env.step)
    states, memory = [state], functions.agent.initial_memory((1, *functions.spec.agents))
    while True:
        key, act_key, step_key = jax.random.split(key, 3)
        action, memory = act(obs, memory, act_key)
        memory = functions.agent.after_step(memory, jnp.zeros((1, *functions.spec.agents), bool))
        obs, next_state, _, terminated, truncated, _ = step(step_key, state, action, env_params)
        if bool(episode_ended(terminated | truncated, functions.spec)):
            return states
        state = next_state
        states.append(state)


def check_drawing(config: PPOConfig) -> None:
    """A ConfigError before any work when `render_gif` surely cannot draw the config's env (a
    multi-agent env without a drawing; gymnax's own say so only when they are drawn)."""
    env, _ = make_env(config.env_id)
    if isinstance(env, MultiAgentEnvironment):
        env.check_drawing()


def render_gif(config: PPOConfig, params: Any, obs_stats: Any, path: Path, seed: int = 0) -> int:
    """Animate one deterministic episode of one policy (no runs axis) with gymnax's Visualizer
    (a multi-agent env: its suite's drawing, `MultiAgentEnvironment.animate`); returns the
    number of steps drawn. Classic control needs the render extra (pygame)."""
    # gymnax draws classic control with pygame: no window, no sound.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    from gymnax.visualize import Visualizer

    states = episode_states(config, params, jax.random.key(seed), obs_stats)
    env, env_params = make_env(config.env_id)
    if isinstance(env, MultiAgentEnvironment):
        env.animate(states, str(path))
        return len(states)
    try:
        Visualizer(env, env_params, states).animate(str(path))
    except Exception as error:  # gymnax raises various errors for envs it cannot draw
        cause = error.__context__ or error
        raise ConfigError(
            f"--gif: gymnax cannot render {config.env_id} ({type(cause).__name__}: {cause}). "
            "Fix: pip install 'purejaxppo[render]' for classic control, or drop --gif."
        ) from error
    return len(states)
