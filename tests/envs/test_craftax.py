"""Craftax through the gymnax interface: ids, spaces, death as termination and the step limit as
truncation with the final observation, resets from a pool, and the return
rising from its random-policy level within 1e5 steps (about a minute on a 2-core CPU)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

pytest.importorskip("craftax")  # the craftax extra; `make test` installs it

import purejaxppo
from purejaxppo import ConfigError, PPOConfig
from purejaxppo.envs.craftax import CraftaxEnvironment
from purejaxppo.envs.registry import describe_env_id, make_env, pooled_reset_step

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

CLASSIC = "craftax:Craftax-Classic-Symbolic-v1"


def test_ids_spaces_and_errors():
    spec = describe_env_id(CLASSIC)
    assert spec.discrete and spec.num_actions == 17 and spec.obs_shape == (1345,)
    PPOConfig(env_id="craftax:Nope")  # the suite's id form; the name is checked on build
    with pytest.raises(ConfigError, match="not a Craftax environment"):
        make_env("craftax:Nope")


def test_the_step_limit_truncates_and_death_terminates():
    env = CraftaxEnvironment("Craftax-Classic-Symbolic-v1", max_timesteps=12)
    params = env.default_params
    num_envs = 8
    # Jitted: run op by op, the world generation is many times slower.
    _, state = jax.jit(jax.vmap(env.reset_env, in_axes=(0, None)))(
        jax.random.split(jax.random.key(0), num_envs), params
    )

    @jax.jit
    def step(key, state):
        action_key, step_key, reset_key = jax.random.split(key, 3)
        actions = jax.random.randint(action_key, (num_envs,), 0, 17)
        return pooled_reset_step(
            env,
            jax.random.split(step_key, num_envs),
            jax.random.split(reset_key, env.reset_pool_size(num_envs)),
            state,
            actions,
            params,
        )

    assert [env.reset_pool_size(n) for n in (1, 8, 64, 1024)] == [1, 2, 4, 64]
    for t in range(14):
        obs, new_state, _, terminated, truncated, info = step(jax.random.key(t + 1), state)
        if t == 11:  # the 12th step: every episode that is still alive is truncated
            np.testing.assert_array_equal(truncated, ~np.asarray(terminated))
            assert not np.array_equal(info["final_observation"], obs)
            np.testing.assert_array_equal(new_state.inner.timestep, 0)
            # All 8 ended at once: they start from the 2 worlds made in this step.
            worlds = {np.asarray(m).tobytes() for m in new_state.inner.map}
            assert len(worlds) == env.reset_pool_size(num_envs) == 2
        else:
            assert not np.any(truncated)
        state = new_state
    # Death: health at 0 is a termination, not a truncation.
    dying = state.replace(inner=state.inner.replace(player_health=state.inner.player_health * 0))
    _, _, _, terminated, truncated, _ = step(jax.random.key(99), dying)
    assert np.all(terminated) and not np.any(truncated)


def test_the_return_rises_from_the_random_level():
    config = PPOConfig(env_id=CLASSIC, num_envs=32, num_steps=64, total_timesteps=100_000,
                       learning_rate=1e-3, anneal_lr=False)  # fmt: skip
    result = purejaxppo.train(config, num_seeds=2, key=0)
    first = float(np.nanmean(result.metrics["episode_return"][:, :3]))
    assert first < 1.5, first  # about a random policy's (1.0 here): a few achievements
    assert np.all(result.final_returns > 2.5), result.final_returns  # 3.2-3.5 when written
