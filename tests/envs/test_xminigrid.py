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
from purejaxppo.envs.ids import parse_suite_id
from purejaxppo.envs.registry import describe_env_id, make_env
from purejaxppo.envs.xminigrid import XMiniGridEnvironment, xminigrid_env_names
from tests.auto_reset import auto_reset_steps

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

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
    num_envs = 64
    seen = {"terminated": 0, "truncated": 0}
    for s in auto_reset_steps(
        env, env.default_params, num_envs, 64,
        pick=lambda key, obs, state: jax.random.randint(key, (num_envs,), 0, 6),
        inner=jax.vmap(lambda s, a: env._env.step(env._params, s.inner, a)),
    ):  # fmt: skip
        terminated, truncated = s.terminated, s.truncated
        assert not np.any(terminated & truncated)
        np.testing.assert_array_equal(truncated, (s.length == 16) & ~terminated)
        assert np.all(s.reward[terminated] > 0) and np.all(s.reward[~terminated] == 0)
        done = terminated | truncated
        # The final observation is the ended state's; the next observation a fresh episode's.
        np.testing.assert_array_equal(s.info["final_observation"], env._observe(s.ended))
        assert np.all(np.asarray(s.new_state.inner.state.step_num)[done] == 0)
        assert np.all(np.asarray(s.new_state.time)[done] == 0)
        seen["terminated"] += int(terminated.sum())
        seen["truncated"] += int(truncated.sum())
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
