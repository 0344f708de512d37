"""The return of a uniformly random policy on each preset's environment: the 0 of
`purejaxppo report --normalize random` (the 1 is the preset's reference return).

Each env runs N episodes at once, every env until its first episode ends (its time limit
included), with actions drawn uniformly: from the Discrete actions (the legal ones where the env
gives a mask) or the Box. Writes purejaxppo/outputs/random_scores.json (package data).

    python benchmarks/random_scores.py                   # every preset, 1000 episodes each
    python benchmarks/random_scores.py --envs CartPole-v1 --episodes 200 --print-only
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.cli.bench import describe_device
from purejaxppo.core.presets import PRESETS
from purejaxppo.core.rollout import episode_ended, team_reward
from purejaxppo.envs.registry import EnvSpec, describe_env, make_batched_step, make_env

OUT = Path(__file__).resolve().parent.parent / "purejaxppo" / "outputs" / "random_scores.json"
MAX_STEPS = 20_000  # an episode longer than this is cut (none of the presets' envs has one)


def random_action(key: jax.Array, spec: EnvSpec, obs: jax.Array, count: int) -> jax.Array:
    """[count, *agents] actions (each agent of a multi-agent env draws its own)."""
    shape = (count, *spec.agents, spec.num_actions)
    if spec.discrete:
        logits = jnp.zeros(shape)
        if spec.action_mask:  # the legal actions end each (flat) observation
            legal = obs.reshape((*shape[:-1], -1))[..., -spec.num_actions :] > 0.5
            logits = jnp.where(legal, 0.0, -jnp.inf)
        return jax.random.categorical(key, logits)
    low, high = jnp.asarray(spec.action_low), jnp.asarray(spec.action_high)
    return jax.random.uniform(key, shape, minval=low, maxval=high)


def first_episode_returns(env_id: str, episodes: int, seed: int = 0) -> np.ndarray:
    """[episodes] returns of one random episode per env (a multi-agent env's: the team's, as
    training reports them)."""
    env, params = make_env(env_id)
    spec = describe_env(env, params)
    batched = make_batched_step(env, params, 1, episodes)
    keys = jax.random.split(jax.random.key(seed), episodes)
    obs, states = jax.vmap(env.reset, in_axes=(0, None))(keys, params)

    def step(carry: tuple[Any, ...]) -> tuple[Any, ...]:
        key, obs, states, total, result, ended, t = carry
        key, action_key, step_key = jax.random.split(key, 3)
        action = random_action(action_key, spec, obs, episodes)
        obs, states, reward, terminated, truncated, _ = batched.step(
            batched.keys(step_key)[0], states, action
        )
        total = total + team_reward(reward, spec)
        done = episode_ended(terminated | truncated, spec) & ~ended
        return (key, obs, states, jnp.where(done, 0.0, total), jnp.where(done, total, result),
                ended | done, t + 1)  # fmt: skip

    def going(carry: tuple[Any, ...]) -> jax.Array:
        return ~jnp.all(carry[5]) & (carry[6] < MAX_STEPS)

    zeros = jnp.zeros((episodes,), jnp.float32)
    start = (jax.random.key(seed + 1), obs, states, zeros, zeros, zeros > 1, 0)
    carry = jax.jit(lambda c: jax.lax.while_loop(going, step, c))(start)
    return np.where(np.asarray(carry[5]), np.asarray(carry[4]), np.nan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(PRESETS))
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--print-only", action="store_true", help="do not write the JSON file")
    args = parser.parse_args()
    table = json.loads(OUT.read_text()) if OUT.exists() else {}
    for env_id in args.envs:
        started = time.perf_counter()
        try:
            returns = first_episode_returns(env_id, args.episodes)
        except Exception as error:  # an extra missing, a download refused: say so, go on
            print(f"{env_id:40s} skipped: {type(error).__name__}: {error}"[:200])
            continue
        finished = returns[np.isfinite(returns)]
        row = {"random": float(finished.mean()), "std": float(finished.std()),
               "episodes": int(finished.size)}  # fmt: skip
        print(f"{env_id:40s} {row['random']:10.3f} +- {row['std']:.3f} "
              f"({row['episodes']} episodes, {time.perf_counter() - started:.0f} s)")  # fmt: skip
        table[env_id] = row
        table["about"] = (
            "Mean return of a uniformly random policy (legal actions where masked) over the "
            f"first episode of each of N envs; benchmarks/random_scores.py on {describe_device()}."
        )
        if not args.print_only:  # after each env: a run cut short keeps what it measured
            OUT.write_text(json.dumps(dict(sorted(table.items())), indent=1) + "\n")


if __name__ == "__main__":
    main()
