"""Which environment ids exist, decided by name alone (nothing is built here).

`NAME` is a gymnax id (gymnax.registered_envs); `brax:NAME` or `brax:NAME-BACKEND` a Brax
environment (the brax extra; the older `NAME-brax[-BACKEND]` is still read); `SUITE:NAME` an
environment of another suite (its extra), e.g. `xminigrid:MiniGrid-Empty-8x8`,
`craftax:Craftax-Classic-Symbolic-v1`, `jumanji:Knapsack-v1` or `playground:CartpoleBalance`.
Building an environment is `envs.make_env`'s job.
"""

from __future__ import annotations

import re

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


SUITES = {  # id prefix -> suite
    "xminigrid": "XLand-MiniGrid",
    "craftax": "Craftax",
    "jumanji": "Jumanji",
    "playground": "MuJoCo Playground",
}
SUITE_ID = re.compile(rf"({'|'.join(SUITES)}):(.+)")


def parse_suite_id(env_id: str) -> tuple[str, str] | None:
    """`SUITE:NAME` -> (SUITE, NAME); None for other ids."""
    match = SUITE_ID.fullmatch(env_id)
    return (match[1], match[2]) if match else None


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
    if env_id in known or parse_brax_id(env_id) is not None or parse_suite_id(env_id):
        return
    raise ConfigError(
        f"{field}={env_id!r}: not a registered gymnax environment. Fix: use one of "
        f"{', '.join(known)}, or another suite's as SUITE:NAME with SUITE one of brax, "
        f"{', '.join(SUITES)} (e.g. brax:hopper or jumanji:Knapsack-v1, with that extra), or "
        "register yours with gymnax.register(env_id, factory) (or pass env=... to make_train)."
    )
