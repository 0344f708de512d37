"""Tuned settings per environment: `preset("Pendulum-v1")` returns a validated `PPOConfig`.

Each entry records the budget it was tuned for and the final return measured with it (mean over
8 seeds, last 5% of updates; how and where it was measured is in README.md).
"""

from __future__ import annotations

from typing import Any

from purejaxppo.config import ConfigError, PPOConfig

PRESETS: dict[str, dict[str, Any]] = {
    # CleanRL's ppo.py CartPole setting (the PPOConfig defaults): 500.0 at 5e5 steps.
    "CartPole-v1": {"env_id": "CartPole-v1"},
    # 16 envs x 128 steps, 10 epochs of 32 minibatches, obs/reward normalisation, gamma 0.95:
    # -162 at 5e5 steps (gymnax-blines reaches -130 with a larger budget).
    "Pendulum-v1": {
        "env_id": "Pendulum-v1",
        "num_envs": 16,
        "num_steps": 128,
        "total_timesteps": 500_000,
        "update_epochs": 10,
        "num_minibatches": 32,
        "learning_rate": 1e-3,
        "gamma": 0.95,
        "gae_lambda": 0.95,
        "clip_eps": 0.2,
        "ent_coef": 0.0,
        "normalize_obs": True,
        "normalize_reward": True,
    },
}


def preset(name: str, **overrides: Any) -> PPOConfig:
    """The `PPOConfig` of preset `name` (an env id), with `overrides` applied on top."""
    if name not in PRESETS:
        raise ConfigError(
            f"preset={name!r}: no such preset. Fix: use one of {', '.join(PRESETS)}, "
            "or build a PPOConfig directly."
        )
    return PPOConfig(**{**PRESETS[name], **overrides})
