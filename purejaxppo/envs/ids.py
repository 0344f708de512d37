"""Which environment ids exist, decided by name alone (nothing is built here).

`NAME` is a gymnax id (gymnax.registered_envs); `brax:NAME` or `brax:NAME-BACKEND` a Brax
environment (the brax extra; the older `NAME-brax[-BACKEND]` is still read); `SUITE:NAME` an
environment of another suite (its extra), e.g. `xminigrid:MiniGrid-Empty-8x8`,
`craftax:Craftax-Classic-Symbolic-v1`, `jumanji:Knapsack-v1` or `playground:CartpoleBalance`.
`SUITES` is the one table of the suites (`register_suite` adds one of yours); building an
environment is `registry.make_env`'s job.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from typing import Any

from purejaxppo.base.errors import ConfigError

BRAX_BACKENDS = ("generalized", "positional", "spring", "mjx")
_BACKEND = rf"(?:-({'|'.join(BRAX_BACKENDS)}))?"
BRAX_ID = re.compile(rf"brax:(.+?){_BACKEND}")
OLD_BRAX_ID = re.compile(rf"(.+)-brax{_BACKEND}")  # the form before every suite was SUITE:NAME


def parse_brax_id(env_id: str) -> tuple[str, str | None] | None:
    """`brax:NAME[-BACKEND]` (or the older `NAME-brax[-BACKEND]`) -> (NAME, BACKEND or None);
    None for other ids."""
    match = BRAX_ID.fullmatch(env_id) or OLD_BRAX_ID.fullmatch(env_id)
    return (match[1], match[2]) if match else None


def brax_id(name: str, backend: str | None = None) -> str:
    """The id of Brax environment `name` (with `backend`): `brax:NAME[-BACKEND]`."""
    return f"brax:{name}" + (f"-{backend}" if backend else "")


def canonical_env_id(env_id: str) -> str:
    """The id in today's form: an older `NAME-brax[-BACKEND]` becomes `brax:NAME[-BACKEND]`;
    any other id is returned as it is. (No gymnax id ends in -brax.)"""
    match = OLD_BRAX_ID.fullmatch(env_id)
    return brax_id(match[1], match[2]) if match else env_id


@dataclasses.dataclass(frozen=True)
class Suite:
    """A suite of environments besides gymnax's, addressed as `PREFIX:NAME` (its extra installed).

    `adapter` and `names` are "module:attribute" references, imported only when an environment of
    the suite is built or listed: `adapter(NAME)` returns a gymnax `Environment`, `names()` the
    NAMEs that `purejaxppo envs` lists (a ConfigError naming the extra when it is missing).
    """

    prefix: str
    title: str
    adapter: str
    names: str
    about: str  # what the adapter gives, for the listing

    def load(self, which: str) -> Any:
        module, _, attribute = getattr(self, which).partition(":")
        return getattr(importlib.import_module(module), attribute)


# The one table of the suites: ids, building and listing all read it.
SUITES: dict[str, Suite] = {
    suite.prefix: suite
    for suite in (
        Suite(
            "xminigrid", "XLand-MiniGrid", "purejaxppo.envs.xland:make_xminigrid",
            "purejaxppo.envs.xminigrid:xminigrid_env_names",
            "Discrete(6) actions, one-hot egocentric views; XLand-MiniGrid-*[@BENCHMARK] runs "
            "trials of rulesets from a downloaded benchmark",
        ),
        Suite(
            "craftax", "Craftax", "purejaxppo.envs.craftax:CraftaxEnvironment",
            "purejaxppo.envs.craftax:craftax_env_names",
            "Discrete actions, symbolic or pixel observations",
        ),
        Suite(
            "jumanji", "Jumanji", "purejaxppo.envs.jumanji_agents:make_jumanji",
            "purejaxppo.envs.jumanji:trainable_names",
            "flat observations, masked Discrete actions; the multi-agent tasks with an agent "
            "axis (as jaxmarl:); Sokoban refused",
        ),
        Suite(
            "jaxmarl", "JaxMARL (multi-agent)", "purejaxppo.envs.multi_agent:make_jaxmarl",
            "purejaxppo.envs.jaxmarl_suite:jaxmarl_env_names",
            "every agent of an env in one batch (IPPO, shared parameters, agent id one-hot; "
            "critic='centralised' for MAPPO); SMAX-SCENARIO, overcooked-LAYOUT",
        ),
        Suite(
            "playground", "MuJoCo Playground", "purejaxppo.envs.playground:PlaygroundEnvironment",
            "purejaxppo.envs.playground:dm_control_names",
            "Box actions in [-1, 1]; the dm_control tasks listed here need no download",
        ),
        Suite(
            "brax", "Brax", "purejaxppo.envs.brax:from_name",
            "purejaxppo.envs.brax:brax_env_names",
            "Box actions in [-1, 1]; brax:NAME-BACKEND picks a physics pipeline: "
            + ", ".join(BRAX_BACKENDS),
        ),
    )
}  # fmt: skip


def register_suite(suite: Suite) -> None:
    """Add a suite of your own: `PREFIX:NAME` ids then build through `suite.adapter`."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", suite.prefix) or suite.prefix in SUITES:
        raise ConfigError(
            f"Suite.prefix={suite.prefix!r}: must be new and lowercase letters, digits or _. "
            f"Fix: a prefix other than {', '.join(SUITES)}."
        )
    SUITES[suite.prefix] = suite


def parse_suite_id(env_id: str) -> tuple[str, str] | None:
    """`SUITE:NAME` (or the older `NAME-brax[-BACKEND]`) -> (SUITE, NAME); None for other ids."""
    prefix, sep, name = canonical_env_id(env_id).partition(":")
    return (prefix, name) if sep and prefix in SUITES and name else None


def gymnax_ids() -> list[str]:
    import gymnax  # imported here: importing it starts JAX, which use_cpu_cores must precede

    return list(gymnax.registered_envs)


def check_env_id(env_id: object, field: str = "PPOConfig.env_id") -> None:
    """Raise ConfigError unless `env_id` names a gymnax environment or has a suite's id form."""
    if not isinstance(env_id, str) or not env_id:
        raise ConfigError(
            f"{field}={env_id!r}: must be a non-empty string. Fix: use an id such as "
            "CartPole-v1 (`purejaxppo envs` lists them)."
        )
    known = gymnax_ids()
    if env_id in known or parse_suite_id(env_id):
        return
    raise ConfigError(
        f"{field}={env_id!r}: not a registered gymnax environment. Fix: use one of "
        f"{', '.join(known)}, or another suite's as SUITE:NAME with SUITE one of brax, "
        f"{', '.join(SUITES)} (e.g. brax:hopper or jumanji:Knapsack-v1, with that extra), or "
        "register yours with gymnax.register(env_id, factory) (or pass env=... to make_train)."
    )
