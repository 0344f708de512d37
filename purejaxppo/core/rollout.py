"""Rollout: num_steps of (actor forward -> vmapped env.step) as one `lax.scan`.

Feed-forward networks: only the actor runs inside the scan. The critic is evaluated afterwards on
the whole [num_steps * num_envs] batch of observations and true next observations at once, which
is both cheaper (one large matmul instead of num_steps small ones) and what GAE needs: V of the
pre-reset final observation at every episode end. Recurrent networks: the GRU step and both heads
run inside the scan (the GRU state must advance step by step), and the values are kept.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from purejaxppo.core.agent import Agent
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.normalization import RewardScaler, RunningMeanStd
from purejaxppo.envs.registry import BatchedStep, EnvSpec, make_batched_step


@struct.dataclass
class Transition:
    """A rollout, time-major: every field has leading axes [num_steps, num_envs] (and then the
    agent axis of a multi-agent env, `EnvSpec.agents`: [T, N, A, ...], one agent's shapes after
    it; below, [T, N] stands for both)."""

    obs: jax.Array  # [T, N, *obs_shape], normalised if normalize_obs
    action: jax.Array  # [T, N] int32, or [T, N, A] unclipped Gaussian samples
    log_prob: jax.Array  # [T, N]
    reward: jax.Array  # [T, N], scaled if normalize_reward
    terminated: jax.Array  # [T, N] bool: true terminal state, no bootstrap
    done: jax.Array  # [T, N] bool: terminated or truncated
    next_obs: jax.Array  # [T, N, *obs_shape]: the true next observation (pre-reset if done)
    # With PPOConfig.reward_shaping: the env's shaped reward, raw (`trainer` weighs it in).
    shaped: jax.Array | None = None  # [T, N]
    # Recurrent networks only (None otherwise):
    start: jax.Array | None = None  # [T, N] bool: the step began an episode (GRU state reset)
    hidden: jax.Array | None = None  # [T, N, H]: GRU state after the step
    value: jax.Array | None = None  # [T, N]: critic at collection time
    initial_hidden: jax.Array | None = None  # [N, H]: GRU state entering step 0 (before reset)


@struct.dataclass
class EpisodeTracker:
    """Undiscounted return and length of each env's current episode, in raw rewards (a
    multi-agent env's: the mean of its agents' rewards, `team_reward`)."""

    returns: jax.Array  # [N]
    lengths: jax.Array  # [N] int32
    agent_returns: jax.Array | None = None  # [N, A]: each agent's own (multi-agent envs only)


@struct.dataclass
class EpisodeSummary:
    """Sums over the episodes that finished during one rollout."""

    return_sum: jax.Array  # []
    length_sum: jax.Array  # [] int32
    count: jax.Array  # [] int32
    nonfinite: jax.Array  # [] int32: env steps whose observation or reward was not finite
    won: jax.Array | None = None  # [] int32: episodes won (None: the env does not say, `won`)
    agent_return_sum: jax.Array | None = None  # [A]: each agent's own (multi-agent envs only)


@struct.dataclass
class EnvLoopState:
    """Everything the rollout carries from one update to the next."""

    env_state: Any  # gymnax state, leaves [N, ...]
    obs: jax.Array  # [N, *obs_shape] float32, as the env gave it (normalised when used, with the
    # statistics of the moment: after a PBT exploit, the donor's)
    obs_stats: RunningMeanStd
    reward_scaler: RewardScaler
    episodes: EpisodeTracker
    # The network's memory between steps (`agent.RecurrentCarry`; None for a feed-forward one).
    recurrent: Any = None


def finite_rows(x: jax.Array) -> jax.Array:
    """[N] bool: row n of x [N, ...] is all finite."""
    return jnp.all(jnp.isfinite(x.reshape((x.shape[0], -1))), axis=1)


def team_reward(reward: jax.Array, spec: EnvSpec) -> jax.Array:
    """[N]: each env's reward; a multi-agent env's [N, A] as the mean over its agents (JaxMARL's
    convention for episode returns: the team reward where the agents share it)."""
    return reward.mean(axis=-1) if spec.num_agents else reward


def episode_ended(done: jax.Array, spec: EnvSpec) -> jax.Array:
    """[N] bool: each env's episode ended; a multi-agent env's when every agent is done (an
    agent can be done before the others, e.g. one that died; the adapter makes every agent
    done when the episode ends)."""
    return done.all(axis=-1) if spec.num_agents else done


def row_wise(x: jax.Array, spec: EnvSpec) -> jax.Array:
    """[N, *agents, *obs_shape] -> [N * A, *obs_shape]: one row per agent (identity for one)."""
    return x.reshape((-1, *spec.obs_shape)) if spec.num_agents else x


def sanitize(x: jax.Array) -> jax.Array:
    """Non-finite entries as 0: a simulation that blew up must not send NaN into the networks,
    GAE or the shared observation statistics (the step is counted in `nonfinite` instead)."""
    return jnp.where(jnp.isfinite(x), x, jnp.zeros_like(x))


RolloutFn = Callable[
    [Any, EnvLoopState, jax.Array, jax.Array], tuple[EnvLoopState, Transition, EpisodeSummary]
]


@struct.dataclass
class _Outcome:
    """One env step of every env, with non-finite values replaced (see `sanitize`)."""

    env_state: Any
    raw_next_obs: jax.Array  # [N, *obs_shape] float32: the next observation (post-reset)
    final_obs: jax.Array  # [N, *obs_shape] float32: the pre-reset one where done
    reward: jax.Array  # [N] float32, raw
    terminated: jax.Array  # [N] bool
    done: jax.Array  # [N] bool
    ended: jax.Array  # [N] bool: the episode ended (`done` itself for a single agent)
    next_ok: jax.Array  # [N] bool: raw_next_obs was finite
    final_ok: jax.Array  # [N] bool: final_obs was finite (or not needed)
    step_ok: jax.Array  # [N] bool: the whole step was finite
    won: jax.Array | None = None  # [N] bool: the episode ended won (an env that says: SMAX)
    shaped: jax.Array | None = None  # [N]: the env's shaped reward (with reward_shaping only)


def env_action(spec: EnvSpec, action: jax.Array) -> jax.Array:
    """The policy's actions [N] or [N, A] as the env takes them: a Gaussian sample is clipped to
    the action space and shaped as the env's actions [N, *action_shape] (leading axes [N,
    agents] for a multi-agent env)."""
    if spec.discrete:
        return action
    low, high = jnp.asarray(spec.action_low), jnp.asarray(spec.action_high)
    return jnp.clip(action, low, high).reshape((*action.shape[:-1], *spec.action_shape))


def _empty_summary(wins: bool, spec: EnvSpec) -> EpisodeSummary:
    return EpisodeSummary(
        return_sum=jnp.zeros((), jnp.float32),
        length_sum=jnp.zeros((), jnp.int32),
        count=jnp.zeros((), jnp.int32),
        nonfinite=jnp.zeros((), jnp.int32),
        won=jnp.zeros((), jnp.int32) if wins else None,
        agent_return_sum=jnp.zeros(spec.agents, jnp.float32) if spec.num_agents else None,
    )


def _empty_tracker(num_envs: int, spec: EnvSpec) -> EpisodeTracker:
    agents = jnp.zeros((num_envs, *spec.agents), jnp.float32) if spec.num_agents else None
    return EpisodeTracker(
        returns=jnp.zeros((num_envs,), jnp.float32),
        lengths=jnp.zeros((num_envs,), jnp.int32),
        agent_returns=agents,
    )


def _count_agents(
    episodes: EpisodeTracker, summary: EpisodeSummary, done: jax.Array, reward: jax.Array
) -> tuple[jax.Array | None, jax.Array | None]:
    """Each agent's own return: the summary's sums [A] and the trackers [N, A] (None, None for a
    single-agent env). The team return of an episode is the mean of these."""
    if episodes.agent_returns is None:
        return None, None
    returns = episodes.agent_returns + reward
    total = summary.agent_return_sum + jnp.sum(jnp.where(done[:, None], returns, 0.0), axis=0)
    return total, jnp.where(done[:, None], 0.0, returns)


def _count_episodes(
    episodes: EpisodeTracker, summary: EpisodeSummary, outcome: _Outcome, reward: jax.Array
) -> tuple[EpisodeSummary, EpisodeTracker]:
    """Add the episodes that ended at this step to `summary`, and advance the others;
    `reward` [N] is each env's (`team_reward`), `outcome.reward` [N, A] each agent's."""
    done = outcome.ended
    agent_sum, agent_returns = _count_agents(episodes, summary, done, outcome.reward)
    ep_returns = episodes.returns + reward
    ep_lengths = episodes.lengths + 1
    summary = EpisodeSummary(
        return_sum=summary.return_sum + jnp.sum(jnp.where(done, ep_returns, 0.0)),
        length_sum=summary.length_sum + jnp.sum(jnp.where(done, ep_lengths, 0), dtype=jnp.int32),
        count=summary.count + jnp.sum(done, dtype=jnp.int32),
        nonfinite=summary.nonfinite + jnp.sum(~outcome.step_ok, dtype=jnp.int32),
        won=None if summary.won is None else summary.won + jnp.sum(outcome.won, dtype=jnp.int32),
        agent_return_sum=agent_sum,
    )
    episodes = EpisodeTracker(
        returns=jnp.where(done, 0.0, ep_returns),
        lengths=jnp.where(done, 0, ep_lengths),
        agent_returns=agent_returns,
    )
    return summary, episodes


@dataclasses.dataclass(frozen=True)
class EnvLoop:
    """num_envs copies of an env stepped by the agent's policy (see `make_env_loop`)."""

    config: PPOConfig
    env: Any
    env_params: Any
    agent: Agent
    spec: EnvSpec
    batched_step: BatchedStep

    def normalized(self, obs: jax.Array, stats: RunningMeanStd) -> jax.Array:
        return stats.normalize(obs) if self.config.normalize_obs else obs

    def reset(self, key: jax.Array) -> EnvLoopState:
        num_envs, spec = self.config.num_envs, self.spec
        raw_obs, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(
            jax.random.split(key, num_envs), self.env_params
        )
        raw_obs = raw_obs.astype(jnp.float32)
        obs_stats = RunningMeanStd.create(spec.obs_shape)
        if self.config.normalize_obs:
            obs_stats = obs_stats.update(row_wise(raw_obs, spec))
        return EnvLoopState(
            env_state=env_state,
            obs=raw_obs,
            obs_stats=obs_stats,
            reward_scaler=RewardScaler.create((num_envs, *spec.agents)),
            episodes=_empty_tracker(num_envs, spec),
            recurrent=self.agent.initial_memory((num_envs, *spec.agents)),
        )

    def env_step(self, keys: jax.Array, env_state: Any, action: jax.Array) -> _Outcome:
        """Step every env with `action` (continuous: clipped to the action space)."""
        raw_next_obs, env_state, reward, terminated, truncated, info = self.batched_step.step(
            keys, env_state, env_action(self.spec, action)
        )
        done = jnp.logical_or(terminated, truncated)
        ended = episode_ended(done, self.spec)
        reward = reward.astype(jnp.float32)
        raw_next_obs = raw_next_obs.astype(jnp.float32)
        final_obs = info["final_observation"].astype(jnp.float32)
        next_ok, final_ok = finite_rows(raw_next_obs), finite_rows(final_obs) | ~ended
        step_ok = (
            next_ok & final_ok & (finite_rows(reward) if reward.ndim > 1 else jnp.isfinite(reward))
        )
        reward, raw_next_obs, final_obs = map(sanitize, (reward, raw_next_obs, final_obs))
        shaped = None
        if self.config.reward_shaping is not None:
            shaped = sanitize(info["shaped_reward"].astype(jnp.float32))
        return _Outcome(
            env_state, raw_next_obs, final_obs, reward, terminated, done, ended, next_ok, final_ok,
            step_ok, info.get("won"), shaped,
        )  # fmt: skip

    def step(self, params: Any, gamma: jax.Array, carry, inputs):
        """One step of the rollout's scan: act, step the envs, keep the transition."""
        state, summary = carry
        noise, env_keys = inputs
        obs = self.normalized(state.obs, state.obs_stats)
        policy, memory, kept = self.agent.act(params, state.recurrent, obs)
        action = self.agent.sample(policy, noise)
        log_prob = policy.log_prob(action)
        out = self.env_step(env_keys, state.env_state, action)
        obs_stats, spec = state.obs_stats, self.spec
        if self.config.normalize_obs:
            # The statistics see every finite observation: the first of each new episode, and
            # the last of each ended one (every agent's).
            seen = jnp.concatenate([out.raw_next_obs, out.final_obs])
            ok = jnp.concatenate([out.next_ok, out.ended & out.final_ok])
            ok = jnp.broadcast_to(ok.reshape(ok.shape + (1,) * len(spec.agents)),
                                  seen.shape[: 1 + len(spec.agents)])  # fmt: skip
            obs_stats = obs_stats.update(row_wise(seen, spec), ok.reshape(-1))
        # An agent done before its episode ended (one that died) has no reset observation:
        # its final observation is its next one, so the select is right for it too.
        done_b = out.done.reshape(out.done.shape + (1,) * len(spec.obs_shape))
        true_next = self.normalized(jnp.where(done_b, out.final_obs, out.raw_next_obs), obs_stats)
        summary, episodes = _count_episodes(
            state.episodes, summary, out, team_reward(out.reward, spec)
        )
        reward_scaler, reward = state.reward_scaler, out.reward
        if self.config.normalize_reward:
            reward_scaler, reward = reward_scaler.update(reward, out.done, gamma)
        transition = Transition(
            obs=obs,
            action=action,
            log_prob=log_prob,
            reward=reward,
            terminated=out.terminated,
            done=out.done,
            next_obs=true_next,
            shaped=out.shaped,
        ).replace(**kept)
        memory = self.agent.after_step(memory, out.done)
        new_state = EnvLoopState(
            out.env_state, out.raw_next_obs, obs_stats, reward_scaler, episodes, memory
        )
        return (new_state, summary), transition

    def rollout(self, params: Any, state: EnvLoopState, key: jax.Array, gamma: jax.Array):
        """num_steps steps as one `lax.scan`; every random input is drawn before the loop, in
        two vectorised calls."""
        config = self.config
        started = self.agent.rollout_start(state.recurrent)
        noise_key, env_key = jax.random.split(key)
        batch_shape = (config.num_steps, config.num_envs, *self.spec.agents)
        noise = self.agent.noise(noise_key, batch_shape)
        (state, summary), transitions = jax.lax.scan(
            functools.partial(self.step, params, gamma),
            (state, _empty_summary(getattr(self.env, "reports_wins", False), self.spec)),
            (noise, self.batched_step.keys(env_key)),
        )
        transitions = transitions.replace(**started)
        chex.assert_shape(transitions.reward, batch_shape)
        chex.assert_shape(transitions.obs, (*batch_shape, *self.spec.obs_shape))
        return state, transitions, summary


def make_env_loop(
    config: PPOConfig, env: Any, env_params: Any, agent: Agent, spec: EnvSpec
) -> tuple[Callable[[jax.Array], EnvLoopState], RolloutFn]:
    """Returns `reset(key) -> EnvLoopState` and `rollout(params, state, key, gamma)`.

    `rollout` returns the new state, a `Transition` with leaves [num_steps, num_envs, ...] and the
    `EpisodeSummary` of the episodes that finished in it.
    """
    batched_step = make_batched_step(env, env_params, config.num_steps, config.num_envs)
    loop = EnvLoop(config, env, env_params, agent, spec, batched_step)
    return loop.reset, loop.rollout
