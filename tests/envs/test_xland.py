"""XLand-MiniGrid trials through the gymnax interface, on a benchmark file written here (the
real ones are downloads): one ruleset per trial, episodes restarting inside it, the trial
terminating after its last episode, the previous action and reward in the observation, and a
recurrent PPO update compiling on it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("xminigrid")  # the xminigrid extra; `make test` installs it

import purejaxppo
from purejaxppo import ConfigError, PPOConfig
from purejaxppo.envs.registry import describe_env, make_env
from purejaxppo.envs.xland import XLandEnvironment
from tests.auto_reset import auto_reset_steps

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

GRID = "XLand-MiniGrid-R1-9x9"


@pytest.fixture
def benchmark(tmp_path, monkeypatch):
    """A 'trivial-21k' of four rulesets: 'stand next to the <colour> ball', one ball placed."""
    from xminigrid import benchmarks
    from xminigrid.core.constants import TILES_REGISTRY, Colors, Tiles
    from xminigrid.core.goals import AgentNearGoal
    from xminigrid.core.rules import EmptyRule

    colours = [Colors.RED, Colors.GREEN, Colors.BLUE, Colors.YELLOW]
    balls = [TILES_REGISTRY[Tiles.BALL, c] for c in colours]
    data = {
        "goals": np.stack([np.asarray(AgentNearGoal(tile=b).encode()) for b in balls]),
        "rules": np.stack([np.asarray(EmptyRule().encode())[None]] * 4),
        "init_tiles": np.stack([np.asarray(b)[None] for b in balls]),
        "num_rules": np.ones(4, np.int32),
    }
    monkeypatch.setattr(benchmarks, "DATA_PATH", str(tmp_path))
    benchmarks.save_bz2_pickle(data, str(tmp_path / benchmarks.NAME2HFFILENAME["trivial-21k"]))
    return data


def test_ids_and_errors(benchmark, monkeypatch):
    from xminigrid import benchmarks

    def no_network(*args):
        raise OSError("no network")

    env, params = make_env(f"xminigrid:{GRID}")
    assert isinstance(env, XLandEnvironment) and env.name == f"xminigrid:{GRID}"
    spec = describe_env(env, params)
    assert spec.discrete and spec.num_actions == 6 and spec.obs_shape == (5 * 5 * 25 + 7,)
    with pytest.raises(ConfigError, match="has no benchmark 'nope'"):
        XLandEnvironment(f"{GRID}@nope")
    with pytest.raises(ConfigError, match="has no grid"):
        XLandEnvironment("XLand-MiniGrid-R1-1x1")
    monkeypatch.setattr(benchmarks, "_download_from_hf", no_network)
    with pytest.raises(ConfigError, match="could not load the benchmark 'small-1m'"):
        XLandEnvironment(f"{GRID}@small-1m")


def test_a_trial_keeps_its_ruleset_across_episodes_then_terminates(benchmark):
    trials, max_steps = 3, 6
    env = XLandEnvironment(GRID, episodes_per_trial=trials, max_steps=max_steps)
    num_envs = 16
    steps = auto_reset_steps(
        env, env.default_params, num_envs, 40,
        pick=lambda key, obs, state: jax.random.randint(key, (num_envs,), 0, 6),
    )  # fmt: skip
    episodes = np.zeros(num_envs, int)
    steps_in_episode = np.zeros(num_envs, int)
    ended_trials = 0
    for t, s in enumerate(steps):
        if t == 0:
            assert np.all(s.obs_before[:, -7:] == 0.0)  # no previous action or reward yet
        terminated, reward = s.terminated, s.reward
        assert not np.any(s.truncated)
        # The previous action and reward, except where a new trial has begun (none yet).
        previous = np.concatenate([np.eye(6)[s.actions], reward[:, None]], axis=1)
        previous[terminated] = 0.0
        np.testing.assert_array_equal(s.obs[:, -7:], previous)
        np.testing.assert_array_equal(s.info["final_observation"][:, -1], reward)
        steps_in_episode += 1
        episode_ended = (reward > 0) | (steps_in_episode == max_steps)
        episodes += episode_ended
        np.testing.assert_array_equal(terminated, episodes == trials)
        goal = np.asarray(s.state.inner.ruleset.goal)
        new_goal = np.asarray(s.new_state.inner.ruleset.goal)
        # The ruleset stays for the whole trial; a new trial has drawn its own.
        np.testing.assert_array_equal(new_goal[~terminated], goal[~terminated])
        started = np.asarray(s.new_state.inner.timestep.state.step_num) == 0
        np.testing.assert_array_equal(started, episode_ended)
        steps_in_episode[episode_ended] = 0
        episodes[terminated] = 0
        ended_trials += int(terminated.sum())
    assert ended_trials > 0


def test_recurrent_ppo_trains_on_trials(benchmark):
    config = PPOConfig(env_id=f"xminigrid:{GRID}", network="gru", gru_size=32, num_envs=8,
                       num_steps=32, total_timesteps=2_048)  # fmt: skip
    env = XLandEnvironment(GRID, episodes_per_trial=2)
    result = purejaxppo.train(config, num_seeds=1, key=0, env=env)
    assert np.isfinite(result.metrics["value_loss"]).all()
    assert jnp.isfinite(result.final_returns).all()
