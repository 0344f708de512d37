"""`make_train`: composes the stages into one pure function `train(key, hparams) -> TrainResult`.

train = lax.scan over num_updates of
    rollout (lax.scan over num_steps) -> critic on the batch -> GAE -> update -> metrics
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from purejaxppo.base.errors import ConfigError, as_key
from purejaxppo.base.prng import reproduces_default, to_threefry, to_unrolled
from purejaxppo.core.agent import Agent, Recurrent, agent_for
from purejaxppo.core.config import PPOConfig
from purejaxppo.core.custom import custom_agent
from purejaxppo.core.fit import check_fits
from purejaxppo.core.gae import compute_gae
from purejaxppo.core.hparams import HyperParams
from purejaxppo.core.loss import Batch, LossInfo, Objective, check_objective
from purejaxppo.core.networks import make_network
from purejaxppo.core.normalization import RunningMeanStd
from purejaxppo.core.rollout import (
    EnvLoopState,
    EpisodeSummary,
    RolloutFn,
    Transition,
    make_env_loop,
)
from purejaxppo.core.schedules import at_update, multiplier
from purejaxppo.core.tuning import Tuning
from purejaxppo.core.update import UpdateFn, init_optimizer_state, make_update
from purejaxppo.envs import multi_agent
from purejaxppo.envs.dict_obs import split_observations
from purejaxppo.envs.randomize import Randomize, randomized
from purejaxppo.envs.registry import EnvSpec, describe_env, make_env

METRIC_NAMES = (
    "episode_return",
    "episodes_finished",
    "episode_length",
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clip_fraction",
    "grad_norm",
    "explained_variance",
    "learning_rate",
    "env_steps",
    "nonfinite",
    "nonfinite_env_steps",
    "win_rate",
)
AGENT_RETURN = "agent_return_"  # + the agent's index: its own episode return (multi-agent envs)


def ordered_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """`metrics` in their order: METRIC_NAMES, then each agent's own return by agent index (a
    pytree's dict comes back with its keys sorted)."""
    agents = sorted((n for n in metrics if n.startswith(AGENT_RETURN)),
                    key=lambda n: int(n.removeprefix(AGENT_RETURN)))  # fmt: skip
    return {name: metrics[name] for name in (*METRIC_NAMES, *agents)}


@struct.dataclass
class TrainState:
    """The carry of the update loop: everything needed to continue training."""

    params: Any
    opt_state: optax.OptState
    env_loop: EnvLoopState
    key: jax.Array
    update_index: jax.Array  # [] int32: updates done so far


@struct.dataclass
class TrainResult:
    """What `train` returns: the trained policy and per-update metrics (axis 0: num_updates)."""

    params: Any
    obs_stats: RunningMeanStd  # observation normaliser (mean 0, var 1 when normalize_obs is off)
    metrics: dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class TrainFunctions:
    """The pieces `train` is built from, for callers that drive the update loop themselves."""

    config: PPOConfig
    env: Any
    env_params: Any
    spec: EnvSpec
    network: Any  # the flax module (built in, or yours)
    agent: Agent  # the interface the stages use (`agent`)
    init_params: Callable[[jax.Array], Any]
    init: Callable[[jax.Array], TrainState]
    rollout: RolloutFn
    make_batch: Callable[[Any, Transition, HyperParams], Batch]
    update: UpdateFn
    step: Callable[[TrainState, HyperParams], tuple[TrainState, dict[str, jax.Array]]]


def explained_variance(values: jax.Array, targets: jax.Array) -> jax.Array:
    """1 - Var[targets - values] / Var[targets]; NaN when the targets do not vary."""
    target_var = jnp.var(targets)
    return jnp.where(target_var > 0, 1.0 - jnp.var(targets - values) / target_var, jnp.nan)


def diverged(info: LossInfo, params: Any) -> jax.Array:
    """1 (int32) if this update's losses, gradients or new parameters are not all finite."""
    losses = jnp.stack([info.policy_loss, info.value_loss, info.entropy, info.grad_norm])
    finite = jnp.all(jnp.isfinite(losses))
    for leaf in jax.tree.leaves(params):
        finite &= jnp.all(jnp.isfinite(leaf))
    return (~finite).astype(jnp.int32)


def update_metrics(
    episodes: EpisodeSummary,
    infos: LossInfo,
    batch: Batch,
    current: HyperParams,
    params: Any,
    update_index: jax.Array,
    agent_axes: int = 0,
) -> dict[str, jax.Array]:
    """The metrics (METRIC_NAMES) of update `update_index`: the episodes that finished in its
    rollout, the means of the loss diagnostics over epochs and minibatches, and divergence of
    the new `params`. `batch` leaves [batch_size, ...] or [T, N, ...] (then `agent_axes` axes
    of agents: 1 for a multi-agent env)."""
    info = jax.tree.map(jnp.mean, infos)
    advantage = batch.advantage
    finished = episodes.count
    any_finished = finished > 0
    agents = {}
    if episodes.agent_return_sum is not None:  # each agent's own return, where they differ
        means = jnp.where(any_finished, episodes.agent_return_sum / finished, jnp.nan)
        agents = {f"{AGENT_RETURN}{i}": means[i] for i in range(means.shape[0])}
    return {
        "episode_return": jnp.where(any_finished, episodes.return_sum / finished, jnp.nan),
        "episodes_finished": finished,
        "episode_length": jnp.where(any_finished, episodes.length_sum / finished, jnp.nan),
        "policy_loss": info.policy_loss,
        "value_loss": info.value_loss,
        "entropy": info.entropy,
        "approx_kl": info.approx_kl,
        "clip_fraction": info.clip_fraction,
        "grad_norm": info.grad_norm,
        "explained_variance": explained_variance(batch.value, batch.target),
        "learning_rate": jnp.asarray(current.learning_rate, jnp.float32),
        # Env steps, not agent steps: the batch's axes before its agents'.
        "env_steps": (update_index + 1) * math.prod(advantage.shape[: advantage.ndim - agent_axes]),
        "nonfinite": diverged(info, params),
        "nonfinite_env_steps": episodes.nonfinite,
        # Share of the finished episodes won, where the env says (SMAX); NaN elsewhere.
        "win_rate": jnp.full((), jnp.nan, jnp.float32)
        if episodes.won is None
        else jnp.where(any_finished, episodes.won / finished, jnp.nan),
        **agents,
    }


def with_shaping(config: PPOConfig, traj: Transition, update_index: jax.Array) -> Transition:
    """`traj` with the env's shaped reward added to the reward learnt from, weighted by
    `config.reward_shaping` at this point of training (`traj` itself without shaping). The
    returns reported are counted in the rollout, from the env's own reward alone."""
    if traj.shaped is None:
        return traj
    progress = update_index.astype(jnp.float32) / config.num_updates
    weight = multiplier(jnp.asarray(config.reward_shaping, jnp.float32), progress)
    return traj.replace(reward=traj.reward + weight * traj.shaped, shaped=None)


def environment(
    config: PPOConfig, env: Any, env_params: Any, randomize: Randomize | None = None
) -> tuple[Any, Any, EnvSpec]:
    """`env` and `env_params` (the config's own env and its default parameters where None) and
    their spec, checked against `config`; with `randomize`, the env whose parameters are drawn
    from `env_params` at every reset (`envs.randomize`)."""
    if env is None:
        env, default_params = make_env(config.env_id)
    else:
        env = multi_agent.adapt(env)
        default_params = env.default_params
    env = multi_agent.with_critic(env, config.critic, config.env_id)
    if config.reward_shaping is not None and not getattr(env, "gives_shaped_reward", False):
        raise ConfigError(
            f"PPOConfig.reward_shaping={config.reward_shaping!r}: {config.env_id} gives no "
            'shaped reward (info["shaped_reward"] per agent, as JaxMARL\'s Overcooked does). '
            "Fix: reward_shaping=None, or an env that shapes its reward."
        )
    env_params = default_params if env_params is None else env_params
    env = split_observations(env, env_params, config.actor_obs_key, config.critic_obs_key)
    if randomize is not None:
        env = randomized(env, randomize, env_params)
    spec = describe_env(env, env_params)
    check_fits(config, spec)
    if config.env_steps >= 2**31:
        raise ConfigError(
            f"PPOConfig.total_timesteps={config.total_timesteps!r}: step counters are int32, "
            "so one run is limited to 2**31 - 1 env steps. Fix: use fewer steps per run."
        )
    return env, env_params, spec


def agent_of(config: PPOConfig, spec: EnvSpec, network: Any = None) -> Agent:
    """The interface to the config's built-in network, or to `network` of yours (its outputs
    checked against the env)."""
    if network is None:
        agent = agent_for(make_network(config, spec))
        if isinstance(agent, Recurrent) and spec.time_limit:
            # Known time limit: the bootstrap GRU step runs only where episodes were cut.
            cuts = -(-config.num_steps // spec.time_limit)
            agent = dataclasses.replace(agent, most_truncations=cuts)
        return agent
    if not config.shared_parameters:
        raise ConfigError(
            "PPOConfig.shared_parameters=False: it sets the built-in networks' weights per "
            "agent, and a network of yours decides its own weights. Fix: leave "
            "shared_parameters=True and give your module per-agent weights if you want them."
        )
    return custom_agent(network, spec, config)


def abstract_params(
    config: PPOConfig, env: Any = None, env_params: Any = None, network: Any = None
) -> tuple[Any, EnvSpec]:
    """The shapes of one run's parameters (`jax.ShapeDtypeStruct` leaves) and its env's spec,
    checked as `make_train` checks them, without building the train functions."""
    env, env_params, spec = environment(config, env, env_params)
    agent = agent_of(config, spec, network)
    init = functools.partial(agent.init, obs_shape=spec.obs_shape)
    return jax.eval_shape(init, jax.random.key(0)), spec


def make_train_functions(
    config: PPOConfig,
    env: Any = None,
    env_params: Any = None,
    tuning: Tuning | None = None,
    network: Any = None,
    objective: Objective | None = None,
    randomize: Randomize | None = None,
) -> TrainFunctions:
    """Build `init(key)` and `step(state, hparams)` for `config` (see `make_train`)."""
    env, env_params, spec = environment(config, env, env_params, randomize)
    tuning = tuning or Tuning.for_backend()
    agent = agent_of(config, spec, network)
    if objective is not None:
        check_objective(objective, config.hparams)
    env_reset, rollout = make_env_loop(config, env, env_params, agent, spec)
    update = make_update(config, agent, tuning.flat_optimizer, objective)
    num_steps, num_envs = config.num_steps, config.num_envs

    # Orthogonal init runs a LAPACK QR. Batched by vmap, XLA:CPU's QR kernel waits on its own
    # thread pool, and two of them running at once (independent layers, or one per host device)
    # deadlock. Initialising the runs one after another keeps every QR unbatched; it costs
    # nothing measurable since it runs once per run.
    @jax.custom_batching.sequential_vmap
    def init_params(key: jax.Array) -> Any:
        return agent.init(key, spec.obs_shape)

    def fast(tree: Any) -> Any:
        # UNROLLED keys give the same bits as threefry keys, faster on XLA:CPU; they live only
        # inside `init` and `step`, so every state a caller holds has keys of the caller's kind.
        return to_unrolled(tree) if tuning.unrolled_prng and reproduces_default() else tree

    def init(key: jax.Array) -> TrainState:
        params_key, env_key, loop_key = jax.random.split(fast(as_key(key)), 3)
        env_loop = env_reset(env_key)
        params = init_params(params_key)
        opt_state = init_optimizer_state(params, tuning.flat_optimizer)
        state = TrainState(params, opt_state, env_loop, loop_key, jnp.zeros((), jnp.int32))
        return to_threefry(state)

    def make_batch(params: Any, traj: Transition, hparams: HyperParams) -> Batch:
        """Values of the collecting policy, GAE, and the batch the update trains on (flat rows,
        or env sequences for a recurrent network: `agent.batch`)."""
        values, next_values = agent.values(params, traj)
        advantages, targets = compute_gae(
            traj.reward,
            values,
            next_values,
            traj.terminated,
            traj.done,
            hparams.gamma,
            hparams.gae_lambda,
            tuning.gae_unroll,
        )
        chex.assert_shape([values, advantages, targets], (num_steps, num_envs, *spec.agents))
        return agent.batch(traj, values, advantages, targets)

    def step(state: TrainState, hparams: HyperParams) -> tuple[TrainState, dict[str, jax.Array]]:
        state = fast(state)
        key, rollout_key, update_key = jax.random.split(state.key, 3)
        env_loop, traj, episodes = rollout(state.params, state.env_loop, rollout_key, hparams.gamma)
        traj = with_shaping(config, traj, state.update_index)
        batch = make_batch(state.params, traj, hparams)
        current = at_update(hparams, state.update_index, config.num_updates, config.anneal_lr)
        params, opt_state, infos = update(state.params, state.opt_state, batch, current, update_key)

        metrics = update_metrics(
            episodes, infos, batch, current, params, state.update_index, len(spec.agents)
        )
        new_state = TrainState(params, opt_state, env_loop, key, state.update_index + 1)
        return to_threefry(new_state), metrics

    return TrainFunctions(
        config, env, env_params, spec, agent.network, agent, init_params, init, rollout, make_batch,
        update, step,
    )  # fmt: skip


def make_train(
    config: PPOConfig,
    env: Any = None,
    env_params: Any = None,
    tuning: Tuning | None = None,
    network: Any = None,
    objective: Objective | None = None,
    randomize: Randomize | None = None,
) -> Callable[[jax.Array, HyperParams], TrainResult]:
    """A pure function `train(key, hparams) -> TrainResult` running the whole of `config`.

    `env`/`env_params` (any gymnax `Environment`) override `config.env_id`. `train` may be jitted,
    vmapped over keys (seeds) and/or over `hparams` (a sweep) without recompiling per value.
    Every entry of `TrainResult.metrics` has shape [config.num_updates] (per run). `tuning`
    (speed choices that do not change what is learned) defaults to the best measured for the
    default backend. `network`: a flax Module of yours instead of the config's (see
    `core.custom`); `objective`: `f(log_ratio, advantages, hparams)` -> the surrogate per sample
    to maximise, instead of the config's (`loss.clip_objective` is PPO's); `randomize`:
    `f(key, env_params) -> env_params`, drawn per env at every episode's reset (domain
    randomisation, `envs.randomize`).
    """
    functions = make_train_functions(config, env, env_params, tuning, network, objective, randomize)

    def train(key: jax.Array, hparams: HyperParams) -> TrainResult:
        state = functions.init(key)
        state, metrics = jax.lax.scan(
            lambda s, _: functions.step(s, hparams), state, None, length=config.num_updates
        )
        return TrainResult(params=state.params, obs_stats=state.env_loop.obs_stats, metrics=metrics)

    return train
