"""Jumanji's multi-agent tasks as multi-agent envs: an agent axis for every task, each agent's
own view and the shared leaves, its row of the mask, agents done early, the time limit as a
truncation, and IPPO learning LevelBasedForaging on the CPU."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("jumanji")  # the jumanji extra; `make test` installs it

from purejaxppo import PPOConfig, make_train
from purejaxppo.envs.jumanji_agents import MULTI_AGENT
from purejaxppo.envs.multi_agent import MultiAgentEnvironment
from purejaxppo.envs.registry import describe_env, make_env

# Trains: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow


def random_legal_steps(env: MultiAgentEnvironment, count: int, seed: int = 0):
    """`count` steps of uniformly random legal actions from a reset: (obs, reward, terminated,
    truncated, final_observation), each with a leading step axis."""
    spec = describe_env(env, None)

    def one(carry, key):
        obs, state = carry
        legal = obs[:, -spec.num_actions :] > 0.5
        action = jax.random.categorical(key, jnp.where(legal, 0.0, -jnp.inf))
        obs, state, reward, term, trunc, info = env.step(key, state, action)
        return (obs, state), (obs, reward, term, trunc, info["final_observation"])

    start = env.reset(jax.random.key(seed))
    keys = jax.random.split(jax.random.key(seed + 1), count)
    return jax.jit(lambda s, k: jax.lax.scan(one, s, k)[1])(start, keys)


def test_every_multi_agent_task_has_an_agent_axis():
    for name in MULTI_AGENT:
        env, params = make_env(f"jumanji:{name}")
        spec = describe_env(env, params)
        rows = env.env._env.action_spec.shape[0]
        assert isinstance(env, MultiAgentEnvironment) and spec.num_agents == rows, name
        assert spec.action_mask == spec.discrete, name  # SearchAndRescue: Box, no mask
        obs, _ = jax.eval_shape(env.reset, jax.random.key(0))
        assert obs.shape == (rows, *spec.obs_shape), name


def test_each_agent_reads_its_own_view_its_id_and_its_row_of_the_mask():
    env, _ = make_env("jumanji:LevelBasedForaging-v0")
    agents = env.env
    state, timestep = jax.jit(agents._env.reset)(jax.random.key(3))
    obs = env.observe(agents._observe(timestep.observation), agents._wrap(state, timestep, 0))
    view = np.asarray(timestep.observation.agents_view)  # [2, 12], integers -1..8
    for i in range(2):
        own = np.asarray(obs[i, :120]).reshape(12, 10)  # one-hot of -1..8
        np.testing.assert_array_equal(own.argmax(-1) - 1, view[i])
        np.testing.assert_array_equal(obs[i, -8:-6], np.eye(2)[i])  # id
        np.testing.assert_array_equal(obs[i, -6:], timestep.observation.action_mask[i])
    # MAPPO's critic reads both agents' views, whole.
    central = env.with_critic(True)
    world = central.observe(agents._observe(timestep.observation), agents._wrap(state, timestep, 0))
    world = world[0, central.obs_split :]
    np.testing.assert_array_equal(np.asarray(world[:240]).reshape(2, 12, 10).argmax(-1) - 1, view)


def test_an_agent_whose_path_is_done_stays_terminated_until_the_episode_ends():
    env, _ = make_env("jumanji:Connector-v3")
    _, _, term, trunc, _ = jax.device_get(random_legal_steps(env, 60))
    episode_end = term.all(-1) | trunc.all(-1)
    assert episode_end.any()
    early = term & ~episode_end[:, None]  # an agent done before its episode ends
    assert early.any()
    for t, i in zip(*np.nonzero(early), strict=True):
        end = t + np.argmax(episode_end[t:])
        assert term[t : end + 1, i].all()  # (a blocked path still costs -0.03 a step)


def test_the_time_limit_is_a_truncation_with_the_final_observation():
    env, _ = make_env("jumanji:LevelBasedForaging-v0")  # 100 steps; random play rarely clears it
    obs, _, term, trunc, final = jax.device_get(random_legal_steps(env, 100))
    assert not term.any() and trunc[-1].all() and not trunc[:-1].any()
    assert not np.array_equal(final[-1], obs[-1])  # the next obs is a fresh episode's
    np.testing.assert_array_equal(final[:-1], obs[:-1])


def test_ippo_learns_level_based_foraging():
    config = PPOConfig(env_id="jumanji:LevelBasedForaging-v0", num_envs=16, num_steps=128,
                       total_timesteps=131_072, learning_rate=1e-3)  # fmt: skip
    train = jax.jit(jax.vmap(make_train(config), in_axes=(0, None)))
    returns = train(jax.random.split(jax.random.key(0), 2), config.hparams).metrics
    returns = np.asarray(returns["episode_return"])  # [seeds, updates]; random play ~0.01
    assert (returns[:, :2].mean(-1) < 0.05).all()
    assert (returns[:, -4:].mean(-1) > 0.15).all(), returns[:, -4:]
