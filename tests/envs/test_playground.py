"""MuJoCo Playground through the gymnax interface: ids, spaces, termination vs truncation with
the final observation, refusals, and PPO learning a cart-pole balance task on the CPU."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("mujoco_playground")  # the playground extra; `make test` installs it

import purejaxppo
from purejaxppo import ConfigError, PPOConfig
from purejaxppo.envs.playground import PlaygroundEnvironment, dm_control_names
from purejaxppo.envs.registry import describe_env_id, make_env
from tests.auto_reset import auto_reset_steps

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow


def test_ids_spaces_and_errors():
    assert "CheetahRun" in dm_control_names()
    spec = describe_env_id("playground:CheetahRun")
    assert not spec.discrete and spec.num_actions == 6 and spec.obs_shape == (17,)
    np.testing.assert_array_equal(spec.action_low, -1.0)
    _, params = make_env("playground:CartpoleBalance")
    assert params.max_steps_in_episode == 1000  # dm_control's 1000 control steps
    with pytest.raises(ConfigError, match="has no environment 'Nope'"):
        make_env("playground:Nope")


class _Around:
    """A Playground env with some of its methods replaced (the others pass through)."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        if name == "_env":  # not set yet: a copy being made
            raise AttributeError(name)
        return getattr(self._env, name)


class _Falls(_Around):
    """The real cart-pole, whose episode also terminates (`done`) once the cart has moved right
    after its third step: dm_control's tasks end only on a blown-up simulation, so this stands
    in for a locomotion task's fall."""

    def step(self, state, action):
        state = self._env.step(state, action)
        fell = (state.data.time > 2.5 * self._env.dt) & (state.obs[0] > 0.0)
        return state.replace(done=jnp.maximum(state.done, fell.astype(jnp.float32)))


def test_termination_truncation_and_the_final_observation():
    limit = 8
    env = PlaygroundEnvironment("CartpoleBalance", episode_length=limit)
    env._env = _Falls(env._env)
    params = env.default_params
    assert params.max_steps_in_episode == limit
    num_envs = 32

    def pick(key, obs, state):
        return jax.random.uniform(key, (num_envs, 1), minval=-1.0, maxval=1.0)

    def inner(state, actions):
        return jax.vmap(env._env.step)(state.inner, actions)

    seen = {"terminated": 0, "truncated": 0}
    for s in auto_reset_steps(env, params, num_envs, 24, pick, inner):
        terminated, truncated = s.terminated, s.truncated
        np.testing.assert_array_equal(terminated, np.asarray(s.ended.done) > 0.5)
        np.testing.assert_array_equal(truncated, s.length == limit)
        np.testing.assert_allclose(s.reward, s.ended.reward)
        done = terminated | truncated
        np.testing.assert_array_equal(s.info["final_observation"], s.ended.obs)
        assert np.all(np.asarray(s.new_state.time)[done] == 0)
        assert np.all(np.asarray(s.new_state.inner.data.time)[done] == 0.0)
        seen["terminated"] += int(terminated.sum())
        seen["truncated"] += int((truncated & ~terminated).sum())
    assert seen["terminated"] > 0 and seen["truncated"] > 0


def test_ppo_learns_to_balance():
    env = PlaygroundEnvironment("CartpoleBalance", episode_length=200)
    config = PPOConfig(env_id="playground:CartpoleBalance", num_envs=16, num_steps=64,
                       total_timesteps=98_304, learning_rate=3e-3, anneal_lr=False,
                       normalize_obs=True, normalize_reward=True)  # fmt: skip
    result = purejaxppo.train(config, num_seeds=2, key=0, env=env)
    first = float(np.nanmean(result.metrics["episode_return"][:, :6]))
    assert first < 150.0, first  # a random policy's, over 200 steps of reward in [0, 1]
    assert np.all(result.final_returns > 190.0), result.final_returns


class _Privileged(_Around):
    """The real cart-pole with a locomotion task's dict observation: "state" as before and
    "privileged_state" the simulator's positions and velocities (needs no Menagerie robot)."""

    @property
    def observation_size(self):
        return {"state": (self._env.observation_size,), "privileged_state": (4,)}

    def observe(self, state):
        privileged = jnp.concatenate([state.data.qpos, state.data.qvel])
        return state.replace(obs={"state": state.obs, "privileged_state": privileged})

    def reset(self, key):
        return self.observe(self._env.reset(key))

    def step(self, state, action):
        return self.observe(self._env.step(state.replace(obs=state.obs["state"]), action))


def test_dict_observations_give_a_privileged_critic_by_playgrounds_own_settings():
    from purejaxppo.core.trainer import make_train_functions

    settings = purejaxppo.preset("playground:Go1JoystickFlatTerrain")
    assert (settings.actor_obs_key, settings.critic_obs_key) == ("state", "privileged_state")
    assert settings.actor_hidden == (512, 256, 128) and settings.gamma == 0.97
    assert purejaxppo.preset("playground:PandaPickCube").critic_obs_key == "state"
    env = PlaygroundEnvironment("CartpoleBalance", episode_length=16)
    env._env = _Privileged(env._env)
    space = env.observation_space(env.default_params)
    assert set(space.spaces) == {"state", "privileged_state"}
    config = settings.replace(env_id="playground:CartpoleBalance", num_envs=4, num_steps=8,
                              total_timesteps=4 * 8 * 3, num_minibatches=2,
                              actor_hidden=(16,), critic_hidden=(16,))  # fmt: skip
    functions = make_train_functions(config, env=env)
    assert functions.spec.obs_shape == (9,) and functions.spec.obs_split == 5
    result = purejaxppo.train(config, num_seeds=2, env=env)
    assert np.all(np.isfinite(result.metrics["value_loss"]))
    with pytest.raises(ConfigError, match="no such entry"):
        make_train_functions(config.replace(critic_obs_key="privileged"), env=env)


def heavy_or_light_pole(key, params):
    scale = jnp.where(jax.random.bernoulli(key), 4.0, 0.25)
    return params.replace(model=params.model.replace(body_mass=params.model.body_mass * scale))


def test_the_mjx_model_is_randomised_per_episode_and_simulated():
    env = PlaygroundEnvironment("CartpoleBalance", episode_length=40)
    params = env.default_params
    light = params.replace(model=params.model.replace(body_mass=params.model.body_mass * 0.25))
    key = jax.random.key(0)

    @jax.jit
    def after(params):  # the same start and pushes under two pole masses
        def step(_, carry):
            obs, state, _, _, _ = env.step_env(key, carry[1], jnp.ones((1,)), params)
            return obs, state

        # A loop: 20 unrolled MJX steps took over a minute to compile.
        obs, _ = jax.lax.fori_loop(0, 20, step, env.reset_env(key, params))
        return obs

    assert float(jnp.abs(after(params) - after(light)).max()) > 1e-3
    config = PPOConfig(env_id="playground:CartpoleBalance", num_envs=4, num_steps=16,
                       total_timesteps=4 * 16 * 2, num_minibatches=2)  # fmt: skip
    runs = purejaxppo.train(config, num_seeds=1, env=env, randomize=heavy_or_light_pole)
    assert np.isfinite(runs.metrics["policy_loss"]).all()
