"""MuJoCo Playground through the gymnax interface (the optional `purejaxppo[playground]` extra),
as `playground:NAME` ids, e.g. `playground:CartpoleBalance` or `playground:CheetahRun`
(`purejaxppo envs` lists them).

* The env's `done` (a fall, a blown-up simulation) **terminates** an episode: no bootstrap;
* the episode length of the env's config (1000 control steps for the dm_control suite) is
  gymnax's own time limit (`max_steps_in_episode`), a **truncation**: it bootstraps from the
  value of `info["final_observation"]`, as for every env here;
* an action is repeated `action_repeat` times (the env's config) with the rewards summed, as
  Playground's own training wrapper does;
* physics runs on MJX's JAX implementation (`impl="jax"`): a pure JAX function that `vmap`s and
  fuses into the training step; Playground's default there, Warp, calls out of JAX and ran
  30-340x slower on the CPU (docs/benchmark-notes.md);
* an observation given as a dict (the locomotion and manipulation tasks: "state", and
  "privileged_state" for a critic) is a `gymnax.spaces.Dict`: `PPOConfig.actor_obs_key` /
  `critic_obs_key` choose the entries (`envs.dict_obs`); with neither, both read every entry.
  `published_config(name)` reads Playground's own PPO settings for a task, those keys included,
  and `purejaxppo.preset` falls back to it for the tasks presets.json does not hold.

The dm_control suite ships with Playground. The locomotion and manipulation tasks need the
robots of MuJoCo Menagerie, which Playground downloads with git on first use: where that cannot
happen they are refused with the reason.
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from purejaxppo.base.errors import ConfigError
from purejaxppo.envs.suite import SuiteEnvironment, SuiteParams, SuiteState, missing_extra


@struct.dataclass
class PlaygroundParams(SuiteParams):
    # The MJX model simulated (None: the env's own). Domain randomisation replaces it per
    # episode, e.g. `params.replace(model=params.model.replace(body_mass=...))`, as
    # Playground's own `randomize.py` functions edit the model they are given.
    model: Any = None


def _import_registry():
    try:
        # MJX prints "Failed to import warp" and the like on stdout, which carries our tables.
        with contextlib.redirect_stdout(io.StringIO()):
            from mujoco_playground import registry
    except ImportError as error:
        raise missing_extra("MuJoCo Playground", "playground", error) from error
    return registry


def playground_env_names() -> list[str]:
    """Every environment Playground registers (needs playground); see the module's note on the
    ones that need MuJoCo Menagerie."""
    return list(_import_registry().ALL_ENVS)


def dm_control_names() -> list[str]:
    """The dm_control suite's tasks, which need no download."""
    _import_registry()
    from mujoco_playground import dm_control_suite

    return list(dm_control_suite.ALL_ENVS)


class PlaygroundEnvironment(SuiteEnvironment):
    """A Playground `MjxEnv` (without its training wrappers) as a gymnax `Environment` with a Box
    action space [-1, 1]^action_size."""

    prefix = "playground"

    def __init__(self, name: str, **config_overrides: Any) -> None:
        super().__init__(name)
        registry = _import_registry()
        if name not in registry.ALL_ENVS:
            raise ConfigError(
                f"PPOConfig.env_id={self.name!r}: MuJoCo Playground has no environment "
                f"{name!r}. Fix: use one of {', '.join(registry.ALL_ENVS)} (as playground:NAME)."
            )
        config = registry.get_default_config(name)
        config.update({"impl": "jax", **config_overrides})  # e.g. episode_length
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self._env = registry.load(name, config=config)
        except Exception as error:  # the Menagerie download (git clone) failing, typically
            raise ConfigError(
                f"PPOConfig.env_id={self.name!r}: MuJoCo Playground could not build it "
                f"({type(error).__name__}: {error}). Its robot models come from MuJoCo "
                "Menagerie, which Playground clones with git on first use. Fix: allow that "
                "download once, or use a dm_control task (e.g. playground:CheetahRun)."
            ) from error
        self.action_repeat = int(config.action_repeat)
        self.episode_steps = int(config.episode_length) // self.action_repeat

    @property
    def default_params(self) -> PlaygroundParams:
        return PlaygroundParams(max_steps_in_episode=self.episode_steps, model=self._env.mjx_model)

    def _simulating(self, params: SuiteParams) -> Any:
        """The Playground env simulating `params.model`: a shallow copy holding that model,
        as Playground's own domain-randomisation wrapper swaps `_mjx_model` in."""
        model = getattr(params, "model", None)
        if model is None or model is self._env.mjx_model:
            return self._env
        env = copy.copy(self._env)
        env._mjx_model = model
        return env

    def _observe(self, obs: Any) -> Any:
        if isinstance(obs, dict):  # only the declared entries (observation_size)
            return {key: obs[key] for key in self._env.observation_size}
        return obs

    def reset_env(self, key: jax.Array, params: SuiteParams):
        inner = self._simulating(params).reset(key)
        return self._observe(inner.obs), self.wrap(inner)

    def step_env(self, key: jax.Array, state: SuiteState, action: Any, params: SuiteParams):
        del key  # the dynamics are deterministic given the state (which holds its own key)
        env = self._simulating(params)
        inner = env.step(state.inner, action)
        reward = inner.reward
        if self.action_repeat > 1:  # the other repeats in a loop; none for dm_control's 1

            def repeat(inner: Any, _: None) -> tuple[Any, jax.Array]:
                inner = env.step(inner, action)
                return inner, inner.reward

            inner, rewards = jax.lax.scan(repeat, inner, length=self.action_repeat - 1)
            reward = reward + rewards.sum()
        terminated = inner.done > 0.5
        new_state = self.wrap(inner, state.time + 1)
        return self._observe(inner.obs), new_state, reward, terminated, {}

    def action_space(self, params: SuiteParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.num_actions,), jnp.float32)

    def observation_space(self, params: SuiteParams) -> spaces.Box | spaces.Dict:
        size = self._env.observation_size
        if isinstance(size, dict):
            return spaces.Dict({key: _box(shape) for key, shape in size.items()})
        return _box((size,))

    @property
    def num_actions(self) -> int:
        return int(self._env.action_size)


def _box(shape: Any) -> spaces.Box:
    return spaces.Box(-jnp.inf, jnp.inf, tuple(int(d) for d in shape), jnp.float32)


def _published_ppo(name: str) -> Any:
    """Playground's Brax-PPO settings for locomotion or manipulation task `name` (None for the
    dm_control suite, whose tasks have presets or our defaults)."""
    _import_registry()
    from mujoco_playground._src import locomotion, manipulation
    from mujoco_playground.config import locomotion_params, manipulation_params

    if name in locomotion.ALL_ENVS:
        return locomotion_params.brax_ppo_config(name)
    if name in manipulation.ALL_ENVS:
        return manipulation_params.brax_ppo_config(name)
    return None


def published_config(name: str) -> dict[str, Any] | None:
    """PPOConfig fields from the PPO settings Playground publishes for its locomotion and
    manipulation task `name` (mujoco_playground.config), or None for other tasks.

    Brax's PPO, which those settings are for, keeps its learning rate constant, does not clip
    the value loss, uses swish activations, a state-dependent std and clip 0.3 unless set; one
    update reads batch_size * num_minibatches sequences of unroll_length steps, here
    num_envs sequences of that many steps in a row. Not carried over: reward_scaling (we have no
    such field), the tanh squashing of actions (ours are clipped to the bounds).
    """
    published = _published_ppo(name)
    if published is None:
        return None
    network = published.network_factory
    sequences = published.batch_size * published.num_minibatches
    steps = published.unroll_length * max(sequences // published.num_envs, 1)
    return {
        "env_id": f"playground:{name}", "total_timesteps": int(published.num_timesteps),
        "num_envs": int(published.num_envs), "num_steps": int(steps),
        "num_minibatches": int(published.num_minibatches),
        "update_epochs": int(published.num_updates_per_batch),
        "learning_rate": float(published.learning_rate), "anneal_lr": False,
        "gamma": float(published.discounting),
        "clip_eps": float(published.get("clipping_epsilon", 0.3)),
        "ent_coef": float(published.entropy_cost),
        "max_grad_norm": float(published.get("max_grad_norm", 1e9)), "clip_vloss": False,
        "actor_hidden": tuple(network.policy_hidden_layer_sizes),
        "critic_hidden": tuple(network.value_hidden_layer_sizes),
        "activation": "silu", "state_dependent_std": True,
        "normalize_obs": bool(published.normalize_observations),
        "actor_obs_key": network.get("policy_obs_key"),
        "critic_obs_key": network.get("value_obs_key"),
    }  # fmt: skip
