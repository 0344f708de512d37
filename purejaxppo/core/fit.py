"""Whether a configuration can train on an environment, decided from the env's spec alone."""

from __future__ import annotations

from purejaxppo.base.errors import ConfigError, config_error
from purejaxppo.core.config import PPOConfig
from purejaxppo.envs.registry import EnvSpec


def check_fits(config: PPOConfig, spec: EnvSpec) -> None:
    """Raise ConfigError if `config` cannot train on an env with spec `spec` (its own env or one
    passed to `make_train`): the one place where a config is checked against an environment."""

    def fail(field: str, problem: str, fix: str) -> ConfigError:
        return config_error(f"PPOConfig.{field}", getattr(config, field), problem, fix)

    if not config.shared_parameters and not spec.num_agents:
        raise fail(
            "shared_parameters",
            f"gives each agent its own weights, and {spec.name} has a single agent",
            "leave shared_parameters=True, or choose a multi-agent env (jaxmarl:...)",
        )
    if config.network == "cnn" and len(spec.obs_shape) != 3:
        raise fail(
            "network",
            f"needs image-like [H, W, C] observations, and {spec.name}'s have shape "
            f"{spec.obs_shape}",
            "use network='mlp' (or 'gru') for this environment",
        )
    if spec.obs_categories and config.normalize_obs:
        raise fail(
            "normalize_obs",
            f"{spec.name} has Discrete observations, which the networks one-hot encode; "
            "normalising their integer labels would break that",
            "leave normalize_obs off for this environment",
        )
    if spec.action_mask and config.normalize_obs:
        raise fail(
            "normalize_obs",
            f"{spec.name} gives its legal actions as the observation's last entries, which the "
            "policy reads as a mask; normalising them would lose it",
            "leave normalize_obs off for this environment",
        )
    for field, default in (("state_dependent_std", False), ("log_std_init", 0.0)):
        if spec.discrete and getattr(config, field) != default:
            raise fail(
                field,
                f"only applies to continuous actions, and {spec.name} has Discrete actions",
                f"leave {field} at {default} for this environment",
            )
