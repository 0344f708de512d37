"""Multi-agent PPO: the adapter's semantics on a small env written here (agents that differ, one
that is done before the episode ends, a time limit), then IPPO and MAPPO through the engine, and
JaxMARL's own MPE and SMAX."""

from __future__ import annotations

import dataclasses
import json
from typing import ClassVar

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from flax import struct
from gymnax.environments import spaces

import purejaxppo
from purejaxppo import ConfigError, PPOConfig, make_train
from purejaxppo.cli.app import main
from purejaxppo.core.evaluation import check_drawing
from purejaxppo.core.trainer import make_train_functions, with_shaping
from purejaxppo.envs.multi_agent import MultiAgentEnvironment, make_jaxmarl


@struct.dataclass
class RelayState:
    step: jax.Array
    done: jax.Array


class Relay:
    """Two agents of JaxMARL's API. "runner" (2 actions, observation [t]) ends the episode by
    taking action 1 (reward 1); "helper" (3 actions, observation [t, 1]) is done from step 2 on
    (like an agent that died) and earns 0.5 a step until then. The time limit is 5 steps. Both
    are told a shaped reward of 10 a step (as Overcooked's `info["shaped_reward"]`)."""

    agents: ClassVar[list[str]] = ["runner", "helper"]
    max_steps = 5

    def reset(self, key):
        state = RelayState(step=jnp.zeros((), jnp.int32), done=jnp.array(False))
        return self.get_obs(state), state

    def get_obs(self, state):
        t = state.step.astype(jnp.float32) / self.max_steps
        return {"runner": jnp.array([t]), "helper": jnp.array([t, 1.0])}

    def step_env(self, key, state, actions):
        step = state.step + 1
        finished = actions["runner"] == 1
        done = finished | (step >= self.max_steps)
        state = RelayState(step=step, done=done)
        helper_done = (step >= 2) | done
        rewards = {"runner": finished.astype(jnp.float32),
                   "helper": jnp.where(step > 2, 0.0, 0.5)}  # fmt: skip
        dones = {"runner": done, "helper": helper_done, "__all__": done}
        shaped = {"shaped_reward": {"runner": 10.0, "helper": 10.0}}
        return self.get_obs(state), state, rewards, dones, shaped

    def action_space(self, agent):
        return spaces.Discrete(2 if agent == "runner" else 3)


class Drift(Relay):
    """Relay with continuous actions of different sizes: the runner's one number ends the
    episode above 0.5; the helper's two are ignored."""

    def step_env(self, key, state, actions):
        assert actions["runner"].shape == (1,) and actions["helper"].shape == (2,)
        ending = {"runner": (actions["runner"][0] > 0.5).astype(jnp.int32), "helper": 0}
        return super().step_env(key, state, ending)

    def action_space(self, agent):
        return spaces.Box(-1.0, 1.0, (1,) if agent == "runner" else (2,))


class AgentMLP(nn.Module):
    """A network of yours for agents: every leading axis is a batch axis ([envs, agents])."""

    @nn.compact
    def __call__(self, obs):
        x = nn.tanh(nn.Dense(16)(obs))
        return distrax.Categorical(logits=nn.Dense(3)(x)), nn.Dense(1)(x)[..., 0]


TINY = PPOConfig(env_id="jaxmarl:MPE_simple_spread_v3", num_envs=4, num_steps=8,
                 total_timesteps=4 * 8 * 4, num_minibatches=2, update_epochs=2)  # fmt: skip


def steps(env, actions):
    step = jax.jit(env.step)
    obs, state = env.reset(jax.random.key(0))
    out = []
    for action in actions:
        obs, state, reward, terminated, truncated, info = step(
            jax.random.key(1), state, jnp.asarray(action)
        )
        out.append((obs, reward, terminated, truncated, info["final_observation"]))
    return out


def test_observations_are_padded_with_the_agent_id_and_the_legal_actions():
    env = MultiAgentEnvironment(Relay(), "relay")
    obs, _ = env.reset(jax.random.key(0))
    # [own (padded to 2) | id (2) | legal actions (3)]: the runner has 2 actions of the 3
    np.testing.assert_array_equal(obs, [[0, 0, 1, 0, 1, 1, 0], [0, 1, 0, 1, 1, 1, 1]])
    spec = make_train_functions(TINY, env=Relay()).spec
    assert (spec.num_agents, spec.obs_shape, spec.num_actions, spec.action_mask) == (
        2,
        (7,),
        3,
        True,
    )


def test_an_agent_done_early_stays_terminated_and_the_time_limit_truncates_the_others():
    out = steps(MultiAgentEnvironment(Relay(), "relay"), [[0, 0]] * 5)
    terminated = np.array([o[2] for o in out])
    truncated = np.array([o[3] for o in out])
    np.testing.assert_array_equal(terminated[:, 0], [False] * 5)
    np.testing.assert_array_equal(terminated[:, 1], [False, True, True, True, True])
    np.testing.assert_array_equal(truncated, [[False, False]] * 4 + [[True, False]])
    np.testing.assert_array_equal([o[1][1] for o in out], [0.5, 0.5, 0, 0, 0])
    obs, final = out[-1][0], out[-1][4]
    assert final[0, 0] == 1.0 and obs[0, 0] == 0.0  # the pre-reset observation, then the reset
    np.testing.assert_array_equal(out[2][0], out[2][4])  # no reset: final is the next obs


def test_an_ending_action_terminates_every_agent():
    out = steps(MultiAgentEnvironment(Relay(), "relay"), [[0, 0], [1, 0]])
    np.testing.assert_array_equal(out[1][2], [True, True])
    np.testing.assert_array_equal(out[1][3], [False, False])
    np.testing.assert_array_equal(out[1][1], [1.0, 0.5])


def test_a_centralised_critic_sees_every_agent_and_its_own_id():
    env = MultiAgentEnvironment(Relay(), "relay", centralised=True)
    obs, _ = env.reset(jax.random.key(0))
    assert env.obs_split == 7 and obs.shape == (2, 7 + 4 + 2)
    np.testing.assert_array_equal(obs[:, 7:], [[0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 0, 1]])


@pytest.mark.parametrize(
    ("config", "network"),
    [(TINY, None), (TINY.replace(critic="centralised"), None),
     (TINY.replace(shared_parameters=False), None), (TINY, AgentMLP())],
    ids=["ippo-mlp", "mappo-mlp", "weights-per-agent", "custom-network"],
)  # fmt: skip
def test_every_agent_trains_in_one_batch_and_episodes_count_once(config, network):
    run = jax.jit(make_train(config, env=Relay(), network=network))
    metrics = run(jax.random.key(0), config.hparams).metrics
    assert int(metrics["env_steps"][-1]) == config.env_steps  # env steps, not agent steps
    assert np.all(np.isfinite(metrics["policy_loss"]))
    lengths = np.asarray(metrics["episode_length"])
    assert np.all((lengths >= 1) & (lengths <= 5))
    # Team return = mean of the agents' returns: the helper's 0.5 + 0.5 and the runner's 0 or 1.
    returns = np.asarray(metrics["episode_return"])
    assert np.all((returns >= 0.25) & (returns <= 1.0)), returns
    assert np.all(np.isnan(metrics["win_rate"]))
    # Each agent's own return, where they differ: the runner's 0 or 1, the helper's 0.5 or 1.
    runner, helper = np.asarray(metrics["agent_return_0"]), np.asarray(metrics["agent_return_1"])
    assert "agent_return_2" not in metrics
    assert np.all((runner >= 0.0) & (runner <= 1.0)) and np.all((helper >= 0.5) & (helper <= 1.0))
    np.testing.assert_allclose(returns, (runner + helper) / 2, rtol=1e-6)


def test_continuous_actions_of_different_sizes_are_padded_and_cut_per_agent():
    functions = make_train_functions(TINY, env=Drift())
    assert (functions.spec.discrete, functions.spec.num_actions) == (False, 2)
    assert not functions.spec.action_mask  # a Box action is never illegal
    metrics = jax.jit(make_train(TINY, env=Drift()))(jax.random.key(0), TINY.hparams).metrics
    assert np.all(np.isfinite(metrics["policy_loss"]))
    returns = np.asarray(metrics["episode_return"])
    assert np.all((returns >= 0.25) & (returns <= 1.0)), returns


def test_the_gru_bootstraps_only_where_episodes_were_cut_and_gets_the_same_values():
    """With the time limit known, V(s'_t) is the next step's kept value where the episode goes
    on and the GRU runs again only at truncations and the last step: the values equal those of
    the GRU run again at every step."""
    config = TINY.replace(network="gru", num_envs=16, num_steps=16, total_timesteps=256)
    functions = make_train_functions(config, env=Relay())
    assert functions.spec.time_limit == 5
    assert functions.agent.most_truncations == 4  # ceil(16 steps / a 5-step limit)
    state = functions.init(jax.random.key(0))
    _, traj, _ = jax.jit(functions.rollout)(
        state.params, state.env_loop, jax.random.key(1), jnp.float32(0.99)
    )
    cut = np.asarray(traj.done & ~traj.terminated)
    assert cut.any() and cut[:-1].any(axis=0).any()  # truncations inside the rollout
    every = dataclasses.replace(functions.agent, most_truncations=None)
    _, sparse = jax.jit(functions.agent.values)(state.params, traj)
    _, dense = jax.jit(every.values)(state.params, traj)
    read = ~np.asarray(traj.terminated)  # a terminated step's V(s') is never read
    np.testing.assert_allclose(np.asarray(sparse)[read], np.asarray(dense)[read], atol=1e-5)


def test_a_shaped_reward_is_learnt_from_and_never_scored():
    config = TINY.replace(reward_shaping=(1.0, 0.0))  # 1 at the first update, 0 at the end
    functions = make_train_functions(config, env=Relay())
    state = functions.init(jax.random.key(0))
    rollout = jax.jit(functions.rollout)
    _, traj, _ = rollout(state.params, state.env_loop, jax.random.key(1), jnp.float32(0.99))
    assert traj.shaped.shape == traj.reward.shape and np.all(traj.shaped == 10.0)
    for update, weight in ((0, 1.0), (config.num_updates // 2, 0.5)):
        learnt = with_shaping(config, traj, jnp.int32(update))
        np.testing.assert_allclose(learnt.reward, traj.reward + 10.0 * weight)
        assert learnt.shaped is None
    metrics = jax.jit(make_train(config, env=Relay()))(jax.random.key(0), config.hparams).metrics
    returns = np.asarray(metrics["episode_return"])  # the env's own reward alone
    assert np.all((returns >= 0.25) & (returns <= 1.0)), returns
    with pytest.raises(ConfigError, match=r"reward_shaping=\(1.0, 0.0\): .*gives no shaped"):
        make_train(TINY.replace(reward_shaping=(1.0, 0.0)))  # MPE: no shaped reward
    with pytest.raises(ConfigError, match=r"reward_shaping.*normalize_reward"):
        TINY.replace(reward_shaping=(1.0, 0.0), normalize_reward=True)


def test_overcooked_tells_each_cooks_shaped_reward():
    env = make_jaxmarl("overcooked-cramped_room")
    assert env.gives_shaped_reward and not make_jaxmarl("MPE_simple_spread_v3").gives_shaped_reward
    _, state = env.reset(jax.random.key(0))
    info = jax.jit(env.step)(jax.random.key(1), state, jnp.zeros(2, jnp.int32))[-1]
    assert info["shaped_reward"].shape == (2,)


def test_evaluation_returns_team_returns_and_resume_is_bit_identical(tmp_path):
    options = {"num_seeds": 2, "env": Relay(), "checkpoint_dir": tmp_path, "segment_updates": 1}
    config = TINY.replace(network="gru", critic="centralised", shared_parameters=False,
                          normalize_reward=True)  # fmt: skip
    whole = purejaxppo.train(config, num_seeds=2, env=Relay())
    purejaxppo.train(config, **options)
    state = tmp_path / "state"
    kept = sorted((p for p in state.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    assert len(kept) >= 2
    for later in kept[1:]:  # back to the first checkpoint: the rest is trained again
        import shutil

        shutil.rmtree(later)
    resumed = purejaxppo.train(config, **options)
    np.testing.assert_array_equal(whole.metrics["value_loss"], resumed.metrics["value_loss"])
    assert np.all(np.isfinite(whole.metrics["policy_loss"]))
    kernel = resumed.params["params"]["cell"]["hr"]["kernel"]  # [seeds, agents, H, H]
    assert kernel.shape == (2, 2, 128, 128) and not np.allclose(kernel[:, 0], kernel[:, 1])
    scores = purejaxppo.evaluate(config, resumed.params, num_episodes=3, env=Relay())
    assert scores.returns.shape == (2, 3) and np.all(scores.returns >= 0.25)
    runner, helper = np.moveaxis(scores.agent_returns, -1, 0)  # each agent's own return
    assert set(np.unique(runner)) <= {0.0, 1.0} and set(np.unique(helper)) <= {0.5, 1.0}
    np.testing.assert_allclose(scores.returns, (runner + helper) / 2)


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (lambda: make_train(PPOConfig(critic="centralised")), "single-agent"),
        (lambda: PPOConfig(critic="global"), "local or centralised"),
        (lambda: make_train(TINY.replace(env_id="jaxmarl:SMAX-4x4")), "SMAX-3m"),
        (lambda: PPOConfig(critic="centralised", critic_obs_key="state"), "set one of them"),
        (lambda: make_train(PPOConfig(shared_parameters=False)), "single agent"),
        (lambda: check_drawing(TINY.replace(env_id="jaxmarl:SMAX-3m")), "has no drawing"),
        (
            lambda: make_train(
                TINY.replace(shared_parameters=False), env=Relay(), network=AgentMLP()
            ),
            "its own weights",
        ),
        (lambda: PPOConfig(shared_parameters=False, network="cnn"), "cnn"),
    ],
    ids=[
        "single-agent-env",
        "unknown-critic",
        "unknown-name",
        "two-critic-choices",
        "weights-per-agent-single-agent",
        "gif-without-a-drawing",
        "weights-per-agent-custom",
        "weights-per-agent-cnn",
    ],
)
def test_what_cannot_work_is_refused_before_anything_runs(build, says):
    with pytest.raises(ConfigError) as caught:
        build()
    assert says in str(caught.value) and "Fix:" in str(caught.value)


# ------------------------------------------------------------------------------ JaxMARL's envs
LEARN = PPOConfig(env_id="jaxmarl:MPE_simple_spread_v3", num_envs=16, num_steps=128,
                  total_timesteps=16 * 128 * 40, learning_rate=1e-3)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("critic", ["local", "centralised"])
def test_ippo_and_mappo_learn_simple_spread(critic):
    config = LEARN.replace(critic=critic)
    metrics = jax.jit(make_train(config))(jax.random.key(0), config.hparams).metrics
    returns = np.asarray(metrics["episode_return"])
    # A random policy scores about -26.6 here (both start there); 80k env steps gain 2 or more.
    assert np.mean(returns[:3]) < -25.0
    assert np.mean(returns[-5:]) > np.mean(returns[:3]) + 2.0, returns


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SMAX-3m", "hanabi"])
def test_actions_respect_the_masks_and_wins_are_counted(name):
    config = PPOConfig(env_id=f"jaxmarl:{name}", num_envs=8, num_steps=64,
                       total_timesteps=8 * 64 * 2, critic="centralised")  # fmt: skip
    functions = make_train_functions(config)
    state = functions.init(jax.random.key(0))
    rollout = jax.jit(functions.rollout)
    _, traj, summary = rollout(state.params, state.env_loop, jax.random.key(1), jnp.float32(0.99))
    spec = functions.spec
    legal = traj.obs[..., spec.obs_split - spec.num_actions : spec.obs_split]
    chosen = jnp.take_along_axis(legal, traj.action[..., None], axis=-1)[..., 0]
    assert bool(jnp.all(chosen == 1.0))
    assert not bool(jnp.all(legal == 1.0))  # some actions were illegal
    if name == "hanabi":  # no wins to count; its games end (no time limit)
        assert summary.won is None and functions.spec.time_limit == 0
        assert bool(traj.terminated.any())
    else:
        assert summary.won is not None and 0 <= int(summary.won) <= int(summary.count)


@pytest.mark.slow
def test_a_battle_decided_at_the_time_limit_terminates():
    env = make_jaxmarl("SMAX-3m")
    obs, state = env.reset(jax.random.key(0))
    last = state.inner.state.replace(step=jnp.int32(env.max_steps))  # SMAX: its last step
    enemies_dead = last.replace(unit_alive=last.unit_alive.at[3:].set(False),
                                unit_health=last.unit_health.at[3:].set(0.0))  # fmt: skip
    legal = jnp.argmax(obs[:, env.actor_size - env.action_size : env.actor_size], axis=-1)
    step = jax.jit(env.step)
    for smax, won in ((last, False), (enemies_dead, True)):
        start = state.replace(inner=state.inner.replace(state=smax))
        _, _, _, terminated, truncated, info = step(jax.random.key(1), start, legal)
        assert bool(info["won"]) == won
        assert bool(terminated.all()) == won and bool(truncated.all()) != won  # cut: bootstraps


@pytest.mark.slow
def test_the_command_line_trains_and_evaluates_each_agent(tmp_path, capsys):
    flags = ["--env-id", TINY.env_id, "--num-envs", "4", "--num-steps", "8", "--total-timesteps",
             "128", "--num-minibatches", "2", "--quiet", "--out", str(tmp_path)]  # fmt: skip
    assert main(["train", *flags, "--num-seeds", "2", "--name", "run"]) == 0
    assert "per agent" in capsys.readouterr().out
    columns = pd.read_csv(tmp_path / "run" / "metrics.csv").columns
    assert list(columns[-3:]) == ["agent_return_0", "agent_return_1", "agent_return_2"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert len(summary["final_agent_return_means"]) == 3
    gif = tmp_path / "spread.gif"
    assert main(["eval", str(tmp_path / "run"), "--num-episodes", "2", "--gif", str(gif)]) == 0
    record = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert len(record["per_agent_mean_return"]) == 3  # simple_spread's three agents
    assert gif.read_bytes()[:6] == b"GIF89a"  # drawn by JaxMARL's MPE visualiser


@pytest.mark.slow
def test_sweep_pbt_and_es_train_a_multi_agent_env():
    """The search engines share the one train function: every agent's batch, team returns."""
    space = {"learning_rate": [1e-3, 3e-3]}
    swept = purejaxppo.sweep(TINY, space, num_seeds=2)
    assert len(swept.runs) == 4 and np.isfinite(swept.result.final_returns).all()  # MPE: 25 steps
    population = purejaxppo.pbt(TINY, population=2, interval=2, space=space, key=0)
    assert population.metrics["episode_return"].shape == (2, 4)
    assert population.metrics["agent_return_2"].shape == (2, 4)  # each agent's own return
    assert np.isfinite(population.metrics["policy_loss"]).all()
    searched = purejaxppo.es(TINY, {"learning_rate": purejaxppo.Range(1e-4, 1e-2)},
                             population=2, generations=2, num_seeds=1)  # fmt: skip
    assert searched.fitness.shape == (2, 2) and np.isfinite(searched.fitness).all()


@pytest.mark.slow
def test_mabrax_cuts_episodes_at_its_time_limit_with_the_last_observation():
    pytest.importorskip("brax")
    import jaxmarl

    assert make_jaxmarl("ant_4x2").env.auto_reset is False  # the adapter resets, not brax
    env = MultiAgentEnvironment(jaxmarl.make("ant_4x2", episode_length=3, auto_reset=False), "ant")
    assert env.time_limit_steps == 3 and (env.num_agents, env.action_size) == (4, 2)
    out = steps(env, [np.zeros((4, 2))] * 4)
    truncated = np.array([o[3] for o in out])
    np.testing.assert_array_equal(truncated.all(axis=1), [False, False, True, False])
    assert not np.any([o[2] for o in out])  # still standing: nothing terminated
    obs, final = out[2][0], out[2][4]
    assert not np.allclose(obs, final)  # the last observation, then the reset one
    np.testing.assert_array_equal(out[1][0], out[1][4])
