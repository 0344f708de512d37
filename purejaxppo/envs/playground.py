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
* an observation given as a dict (the locomotion tasks) is read at its "state" entry, the
  actor's; the critic gets the same (no privileged critic yet).

The dm_control suite ships with Playground. The locomotion and manipulation tasks need the
robots of MuJoCo Menagerie, which Playground downloads with git on first use: where that cannot
happen they are refused with the reason.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import spaces

from purejaxppo.base.errors import ConfigError
from purejaxppo.envs.suite import SuiteEnvironment, SuiteParams, SuiteState, missing_extra


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
    def default_params(self) -> SuiteParams:
        return SuiteParams(max_steps_in_episode=self.episode_steps)

    @staticmethod
    def _observe(obs: Any) -> jax.Array:
        return obs["state"] if isinstance(obs, dict) else obs

    def reset_env(self, key: jax.Array, params: SuiteParams):
        inner = self._env.reset(key)
        return self._observe(inner.obs), self.wrap(inner)

    def step_env(self, key: jax.Array, state: SuiteState, action: Any, params: SuiteParams):
        del key  # the dynamics are deterministic given the state (which holds its own key)
        inner = self._env.step(state.inner, action)
        reward = inner.reward
        if self.action_repeat > 1:  # the other repeats in a loop; none for dm_control's 1

            def repeat(inner: Any, _: None) -> tuple[Any, jax.Array]:
                inner = self._env.step(inner, action)
                return inner, inner.reward

            inner, rewards = jax.lax.scan(repeat, inner, length=self.action_repeat - 1)
            reward = reward + rewards.sum()
        terminated = inner.done > 0.5
        new_state = self.wrap(inner, state.time + 1)
        return self._observe(inner.obs), new_state, reward, terminated, {}

    def action_space(self, params: SuiteParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.num_actions,), jnp.float32)

    def observation_space(self, params: SuiteParams) -> spaces.Box:
        size = self._env.observation_size
        shape = size["state"] if isinstance(size, dict) else (size,)
        return spaces.Box(-jnp.inf, jnp.inf, tuple(shape), jnp.float32)

    @property
    def num_actions(self) -> int:
        return int(self._env.action_size)
