"""JaxMARL's environments that need no download, as `jaxmarl:NAME` (the jaxmarl extra).

NAME is a JaxMARL id (`MPE_simple_spread_v3`, `hanabi`, `coin_game`, `switch_riddle`,
MABrax's `ant_4x2` with the brax extra), `SMAX-SCENARIO` (SMAX against its heuristic enemies,
e.g. `SMAX-3m`, `SMAX-2s3z`) or `overcooked-LAYOUT` (e.g. `overcooked-cramped_room`).
`multi_agent.MultiAgentEnvironment` adapts them.
"""

from __future__ import annotations

from typing import Any

from purejaxppo.base.errors import ConfigError

PLAIN = (
    "MPE_simple_v3", "MPE_simple_tag_v3", "MPE_simple_world_comm_v3", "MPE_simple_spread_v3",
    "MPE_simple_crypto_v3", "MPE_simple_speaker_listener_v4", "MPE_simple_push_v3",
    "MPE_simple_adversary_v3", "MPE_simple_reference_v3", "MPE_simple_facmac_v1",
    "MPE_simple_facmac_3a_v1", "MPE_simple_facmac_6a_v1", "MPE_simple_facmac_9a_v1",
    "switch_riddle", "hanabi", "coin_game",
)  # fmt: skip
MABRAX = ("ant_4x2", "halfcheetah_6x1", "hopper_3x1", "humanoid_9|8", "walker2d_2x3")


def _jaxmarl() -> Any:
    try:
        import jaxmarl
    except ImportError as error:
        raise ConfigError(
            "PPOConfig.env_id='jaxmarl:...': JaxMARL is not installed. Fix: pip install "
            "'purejaxppo[jaxmarl]'."
        ) from error
    return jaxmarl


def _families() -> dict[str, tuple[str, ...]]:
    """The SMAX scenarios and Overcooked layouts, by family prefix."""
    from jaxmarl.environments.overcooked import overcooked_layouts
    from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO

    return {"SMAX": tuple(MAP_NAME_TO_SCENARIO), "overcooked": tuple(overcooked_layouts)}


def jaxmarl_env_names() -> list[str]:
    """The NAMEs of `jaxmarl:NAME` (MABrax's only with brax installed)."""
    jaxmarl = _jaxmarl()
    names = list(PLAIN)
    if getattr(jaxmarl.environments, "MABRAX_AVAILABLE", False):
        names += MABRAX
    for family, members in _families().items():
        names += [f"{family}-{member}" for member in members]
    return names


def build(name: str) -> Any:
    """The JaxMARL environment `name` (a ConfigError that lists the names if it is unknown)."""
    jaxmarl = _jaxmarl()
    family, _, member = name.partition("-")
    families = _families()
    if family == "SMAX" and member in families["SMAX"]:
        from jaxmarl.environments.smax import map_name_to_scenario

        return jaxmarl.make("HeuristicEnemySMAX", scenario=map_name_to_scenario(member))
    if family == "overcooked" and member in families["overcooked"]:
        from jaxmarl.environments.overcooked import overcooked_layouts

        return jaxmarl.make("overcooked", layout=overcooked_layouts[member])
    if name in MABRAX:
        # Brax's own auto-reset would hand back the next episode's first observation at a
        # time limit (the bootstrap needs the last one): the adapter resets instead.
        return jaxmarl.make(name, auto_reset=False)
    if name in PLAIN:
        return jaxmarl.make(name)
    raise ConfigError(
        f"PPOConfig.env_id='jaxmarl:{name}': not a JaxMARL environment this adapter builds. "
        f"Fix: one of {', '.join(jaxmarl_env_names())}."
    )
