"""XLand-MiniGrid through the gymnax interface: ids, spaces, termination vs truncation with the
final observation, and PPO learning a small room on the CPU."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("xminigrid")  # the xminigrid extra; `make test` installs it

import purejaxppo
from purejaxppo import ConfigError, PPOConfig
from purejaxppo.env_ids import parse_suite_id
from purejaxppo.envs import describe_env_id, make_batched_step, make_env
from purejaxppo.xminigrid_env import XMiniGridEnvironment, xminigrid_env_names

ROOM = "xminigrid:MiniGrid-Empty-5x5"


def test_ids_spaces_and_errors():
    assert parse_suite_id(ROOM) == ("xminigrid", "MiniGrid-Empty-5x5")
    assert parse_suite_id("CartPole-v1") is None
    assert "MiniGrid-Empty-8x8" in xminigrid_env_names()
    spec = describe_env_id(ROOM)
    assert spec.discrete and spec.num_actions == 6 and spec.obs_shape == (7, 7, 13 + 12)
    PPOConfig(env_id="xminigrid:Nope")  # an id of the suite's form; the name is checked on build
    with pytest.raises(ConfigError, match="has no environment 'Nope'"):
        make_env("xminigrid:Nope")


def test_termination_truncation_and_the_final_observation():
    env = XMiniGridEnvironment("MiniGrid-Empty-5x5", max_steps=16)  # short episodes
    params = env.default_params
    num_envs, steps = 64, 64
    keys = jax.random.split(jax.random.key(0), num_envs)
    _, state = jax.vmap(env.reset_env, in_axes=(0, None))(keys, params)

    batched = make_batched_step(env, params, 1, num_envs)  # the rollout's auto-reset step

    @jax.jit
    def step(key, state):
        action_key, step_key = jax.random.split(key)
        actions = jax.random.randint(action_key, (num_envs,), 0, 6)
        out = batched.step(batched.keys(step_key)[0], state, actions)
        ended = jax.vmap(lambda s, a: env._env.step(env._params, s.inner, a))(state, actions)
        return out, ended

    lengths = np.zeros(num_envs, int)
    seen = {"terminated": 0, "truncated": 0}
    for t in range(steps):
        (_, new_state, reward, terminated, truncated, info), ended = step(
            jax.random.key(t + 1), state
        )
        lengths += 1
        terminated, truncated, reward = map(np.asarray, (terminated, truncated, reward))
        assert not np.any(terminated & truncated)
        np.testing.assert_array_equal(truncated, (lengths == 16) & ~terminated)
        assert np.all(reward[terminated] > 0) and np.all(reward[~terminated] == 0)
        done = terminated | truncated
        # The final observation is the ended state's; the next observation a fresh episode's.
        np.testing.assert_array_equal(info["final_observation"], env._observe(ended))
        assert np.all(np.asarray(new_state.inner.state.step_num)[done] == 0)
        assert np.all(np.asarray(new_state.time)[done] == 0)
        seen["terminated"] += int(terminated.sum())
        seen["truncated"] += int(truncated.sum())
        lengths[done] = 0
        state = new_state
    assert seen["terminated"] > 0 and seen["truncated"] > 0


def test_ppo_learns_a_small_room():
    config = PPOConfig(env_id=ROOM, num_envs=16, num_steps=64, total_timesteps=49_152,
                       learning_rate=1e-3, anneal_lr=False)  # fmt: skip
    result = purejaxppo.train(config, num_seeds=2, key=0)
    returns = result.metrics["episode_return"]
    first = float(np.nanmean(returns[:, :3]))  # about a random policy's (0.4-0.5 here)
    assert first < 0.7
    assert np.all(result.final_returns > 0.85), result.final_returns
    assert jnp.isfinite(result.final_returns).all()
