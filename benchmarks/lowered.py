"""Fingerprints of the lowered training programs, to show that a refactoring left them alone.

For each built-in configuration below, `make_train` is vmapped over 2 seeds, jitted and lowered to
StableHLO (without debug locations, so moving code between files does not count), and the text's
sha256 is printed. Run it at two commits and compare: equal hashes mean the compiled hot path is
unchanged, so no speed measurement is needed for that change.

    python benchmarks/lowered.py                 # one line per configuration
    python benchmarks/lowered.py --save a.json   # also write the hashes, to diff later
"""

from __future__ import annotations

import argparse
import hashlib
import json

import jax

from purejaxppo import PPOConfig, make_train

SMALL = dict(num_envs=4, num_steps=8, total_timesteps=64, update_epochs=2, num_minibatches=2)

CONFIGS = {
    "cartpole-mlp": PPOConfig(**SMALL),
    "cartpole-gru": PPOConfig(**SMALL, network="gru"),
    "cartpole-drift": PPOConfig(**SMALL, objective="learned_drift"),
    "cartpole-normalized": PPOConfig(**SMALL, normalize_obs=True, normalize_reward=True),
    "pendulum-continuous": PPOConfig(**SMALL, env_id="Pendulum-v1"),
    "breakout-cnn": PPOConfig(**SMALL, env_id="Breakout-MinAtar", network="cnn"),
}


def fingerprint(config: PPOConfig) -> str:
    """The sha256 of `config`'s lowered StableHLO, vmapped over 2 seeds."""
    train = jax.vmap(make_train(config), in_axes=(0, None))
    keys = jax.random.split(jax.random.key(0), 2)
    text = jax.jit(train).lower(keys, config.hparams).as_text(debug_info=False)
    return hashlib.sha256(text.encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", help="write {name: sha256} as JSON to this file")
    args = parser.parse_args()
    hashes = {}
    for name, config in CONFIGS.items():
        hashes[name] = fingerprint(config)
        print(f"{name:22s} {hashes[name]}", flush=True)
    if args.save:
        with open(args.save, "w") as file:
            json.dump(hashes, file, indent=1)


if __name__ == "__main__":
    main()
