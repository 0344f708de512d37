"""Rollout: num_steps of (actor forward -> vmapped env.step) as one `lax.scan`.

Feed-forward networks: only the actor runs inside the scan. The critic is evaluated afterwards on
the whole [num_steps * num_envs] batch of observations and true next observations at once, which
is both cheaper (one large matmul instead of num_steps small ones) and what GAE needs: V of the
pre-reset final observation at every episode end. Recurrent networks: the GRU step and both heads
run inside the scan (the GRU state must advance step by step), and the values are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from purejaxppo.core.config import PPOConfig
from purejaxppo.core.networks import ActorCritic, RecurrentActorCritic
from purejaxppo.core.normalization import RewardScaler, RunningMeanStd
from purejaxppo.envs.registry import EnvSpec, make_batched_step


@struct.dataclass
class Transition:
    """A rollout, time-major: every field has leading axes [num_steps, num_envs]."""

    obs: jax.Array  # [T, N, *obs_shape], normalised if normalize_obs
    action: jax.Array  # [T, N] int32, or [T, N, A] unclipped Gaussian samples
    log_prob: jax.Array  # [T, N]
    reward: jax.Array  # [T, N], scaled if normalize_reward
    terminated: jax.Array  # [T, N] bool: true terminal state, no bootstrap
    done: jax.Array  # [T, N] bool: terminated or truncated
    next_obs: jax.Array  # [T, N, *obs_shape]: the true next observation (pre-reset if done)
    # Recurrent networks only (None otherwise):
    start: jax.Array | None = None  # [T, N] bool: the step began an episode (GRU state reset)
    hidden: jax.Array | None = None  # [T, N, H]: GRU state after the step
    value: jax.Array | None = None  # [T, N]: critic at collection time
    initial_hidden: jax.Array | None = None  # [N, H]: GRU state entering step 0 (before reset)


@struct.dataclass
class EpisodeTracker:
    """Undiscounted return and length of each env's current episode, in raw rewards."""

    returns: jax.Array  # [N]
    lengths: jax.Array  # [N] int32


@struct.dataclass
class EpisodeSummary:
    """Sums over the episodes that finished during one rollout."""

    return_sum: jax.Array  # []
    length_sum: jax.Array  # [] int32
    count: jax.Array  # [] int32
    nonfinite: jax.Array  # [] int32: env steps whose observation or reward was not finite


@struct.dataclass
class RecurrentCarry:
    """The GRU state of each env and whether its next step begins an episode."""

    hidden: jax.Array  # [N, H]
    start: jax.Array  # [N] bool


@struct.dataclass
class EnvLoopState:
    """Everything the rollout carries from one update to the next."""

    env_state: Any  # gymnax state, leaves [N, ...]
    obs: jax.Array  # [N, *obs_shape] float32, as the env gave it (normalised when used, with the
    # statistics of the moment: after a PBT exploit, the donor's)
    obs_stats: RunningMeanStd
    reward_scaler: RewardScaler
    episodes: EpisodeTracker
    recurrent: RecurrentCarry | None = None  # recurrent networks only


def finite_rows(x: jax.Array) -> jax.Array:
    """[N] bool: row n of x [N, ...] is all finite."""
    return jnp.all(jnp.isfinite(x.reshape((x.shape[0], -1))), axis=1)


def sanitize(x: jax.Array) -> jax.Array:
    """Non-finite entries as 0: a simulation that blew up must not send NaN into the networks,
    GAE or the shared observation statistics (the step is counted in `nonfinite` instead)."""
    return jnp.where(jnp.isfinite(x), x, jnp.zeros_like(x))


RolloutFn = Callable[
    [Any, EnvLoopState, jax.Array, jax.Array], tuple[EnvLoopState, Transition, EpisodeSummary]
]


def make_env_loop(
    config: PPOConfig,
    env: Any,
    env_params: Any,
    network: ActorCritic | RecurrentActorCritic,
    spec: EnvSpec,
) -> tuple[Callable[[jax.Array], EnvLoopState], RolloutFn]:
    """Returns `reset(key) -> EnvLoopState` and `rollout(params, state, key, gamma)`.

    `rollout` returns the new state, a `Transition` with leaves [num_steps, num_envs, ...] and the
    `EpisodeSummary` of the episodes that finished in it.
    """
    num_envs = config.num_envs
    recurrent = isinstance(network, RecurrentActorCritic)
    vmapped_reset = jax.vmap(env.reset, in_axes=(0, None))
    batched_step = make_batched_step(env, env_params, config.num_steps, num_envs)
    if not spec.discrete:
        low = jnp.asarray(spec.action_low)
        high = jnp.asarray(spec.action_high)

    def normalized(obs: jax.Array, stats: RunningMeanStd) -> jax.Array:
        return stats.normalize(obs) if config.normalize_obs else obs

    def reset(key: jax.Array) -> EnvLoopState:
        raw_obs, env_state = vmapped_reset(jax.random.split(key, num_envs), env_params)
        raw_obs = raw_obs.astype(jnp.float32)
        obs_stats = RunningMeanStd.create(spec.obs_shape)
        if config.normalize_obs:
            obs_stats = obs_stats.update(raw_obs)
        return EnvLoopState(
            env_state=env_state,
            obs=raw_obs,
            obs_stats=obs_stats,
            reward_scaler=RewardScaler.create(num_envs),
            episodes=EpisodeTracker(
                returns=jnp.zeros((num_envs,), jnp.float32),
                lengths=jnp.zeros((num_envs,), jnp.int32),
            ),
            recurrent=RecurrentCarry(
                hidden=network.initial_hidden((num_envs,)),
                start=jnp.ones((num_envs,), bool),
            )
            if recurrent
            else None,
        )

    def to_env_action(action: jax.Array) -> jax.Array:
        if spec.discrete:
            return action
        return jnp.clip(action, low, high).reshape((num_envs, *spec.action_shape))

    def rollout(params: Any, state: EnvLoopState, key: jax.Array, gamma: jax.Array):
        def step(carry: tuple[EnvLoopState, EpisodeSummary], inputs: tuple[jax.Array, jax.Array]):
            state, summary = carry
            noise, env_keys = inputs
            obs = normalized(state.obs, state.obs_stats)
            if recurrent:
                hidden = network.apply(
                    params,
                    state.recurrent.hidden,
                    obs,
                    state.recurrent.start,
                    method=RecurrentActorCritic.step,
                )
                policy, value = network.apply(
                    params, hidden, obs, method=RecurrentActorCritic.heads
                )
            else:
                policy = network.apply(params, obs, method=ActorCritic.actor)
            action = network.sample_with_noise(policy, noise)
            log_prob = policy.log_prob(action)
            raw_next_obs, env_state, reward, terminated, truncated, info = batched_step.step(
                env_keys, state.env_state, to_env_action(action)
            )
            done = jnp.logical_or(terminated, truncated)
            reward = reward.astype(jnp.float32)
            raw_next_obs = raw_next_obs.astype(jnp.float32)
            final_obs = info["final_observation"].astype(jnp.float32)
            next_ok, final_ok = finite_rows(raw_next_obs), finite_rows(final_obs) | ~done
            step_ok = next_ok & final_ok & jnp.isfinite(reward)
            reward, raw_next_obs, final_obs = map(sanitize, (reward, raw_next_obs, final_obs))
            obs_stats = state.obs_stats
            if config.normalize_obs:
                # The statistics see every finite observation: the first of each new episode,
                # and the last of each ended one.
                seen = jnp.concatenate([raw_next_obs, final_obs])
                obs_stats = obs_stats.update(seen, jnp.concatenate([next_ok, done & final_ok]))
            done_b = done.reshape((num_envs,) + (1,) * len(spec.obs_shape))
            true_next_obs = normalized(jnp.where(done_b, final_obs, raw_next_obs), obs_stats)

            ep_returns = state.episodes.returns + reward
            ep_lengths = state.episodes.lengths + 1
            summary = EpisodeSummary(
                return_sum=summary.return_sum + jnp.sum(jnp.where(done, ep_returns, 0.0)),
                length_sum=summary.length_sum
                + jnp.sum(jnp.where(done, ep_lengths, 0), dtype=jnp.int32),
                count=summary.count + jnp.sum(done, dtype=jnp.int32),
                nonfinite=summary.nonfinite + jnp.sum(~step_ok, dtype=jnp.int32),
            )
            episodes = EpisodeTracker(
                returns=jnp.where(done, 0.0, ep_returns), lengths=jnp.where(done, 0, ep_lengths)
            )
            reward_scaler = state.reward_scaler
            if config.normalize_reward:
                reward_scaler, reward = reward_scaler.update(reward, done, gamma)

            transition = Transition(
                obs=obs,
                action=action,
                log_prob=log_prob,
                reward=reward,
                terminated=terminated,
                done=done,
                next_obs=true_next_obs,
            )
            carry = None
            if recurrent:
                transition = transition.replace(
                    start=state.recurrent.start, hidden=hidden, value=value
                )
                carry = RecurrentCarry(hidden=hidden, start=done)
            new_state = EnvLoopState(
                env_state, raw_next_obs, obs_stats, reward_scaler, episodes, carry
            )
            return (new_state, summary), transition

        empty = EpisodeSummary(
            return_sum=jnp.zeros((), jnp.float32),
            length_sum=jnp.zeros((), jnp.int32),
            count=jnp.zeros((), jnp.int32),
            nonfinite=jnp.zeros((), jnp.int32),
        )
        initial_hidden = state.recurrent.hidden if recurrent else None
        # Every random input of the rollout is drawn before its loop, in two vectorised calls.
        noise_key, env_key = jax.random.split(key)
        noise = network.sampling_noise(noise_key, (config.num_steps, num_envs))
        (state, summary), transitions = jax.lax.scan(
            step, (state, empty), (noise, batched_step.keys(env_key))
        )
        transitions = transitions.replace(initial_hidden=initial_hidden)
        chex.assert_shape(transitions.reward, (config.num_steps, num_envs))
        chex.assert_shape(transitions.obs, (config.num_steps, num_envs, *spec.obs_shape))
        return state, transitions, summary

    return reset, rollout
