"""The floor under the update stage: its dense-layer matmuls alone, on the real shapes.

One minibatch step of the feed-forward actor-critic does, per hidden or output layer of each
MLP, a forward matmul, a weight-gradient matmul and (except the first layer) an input-gradient
matmul. This script runs exactly those matmuls, for update_epochs x num_minibatches steps per
update and S vmapped seeds, in one compiled `lax.scan` (each step's inputs depend on the last
step's outputs, so XLA can neither hoist nor drop them), and prints their time per update next
to their arithmetic rate. Compare with the `update` column of `benchmarks/stages.py`: what is
left above this floor is everything else (activations, loss, clipping, Adam, gathers).

    python benchmarks/matmul_floor.py --seeds 1 64
    taskset -c 0 python benchmarks/matmul_floor.py --seeds 64   # the same on one core
"""

from __future__ import annotations

import argparse
import time

from purejaxppo.cli.bench import describe_device


def measure(env_id: str, seeds: int, rounds: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from purejaxppo import PPOConfig
    from purejaxppo.envs.registry import describe_env, make_env

    config = PPOConfig(env_id=env_id)
    spec = describe_env(*make_env(env_id))
    features = int(np.prod(spec.obs_shape))
    rows = config.batch_size // config.num_minibatches
    steps = config.update_epochs * config.num_minibatches
    widths = [
        [features, *config.actor_hidden, spec.num_actions],
        [features, *config.critic_hidden, 1],
    ]
    shapes = [(w[i], w[i + 1]) for w in widths for i in range(len(w) - 1)]
    key = jax.random.key(0)
    weights = [jax.random.normal(key, (seeds, n_in, n_out)) * 0.1 for n_in, n_out in shapes]
    inputs = [jax.random.normal(key, (seeds, rows, n_in)) for n_in, _ in shapes]

    def step(xs: list, _: None) -> tuple[list, None]:
        out = []
        for (x, w), (n_in, _) in zip(zip(xs, weights, strict=True), shapes, strict=True):
            y = jnp.einsum("sri,sio->sro", x, w)  # forward
            grad_w = jnp.einsum("sri,sro->sio", x, y)  # weight gradient
            x = x + 1e-30 * grad_w[:, :1, :1]
            if n_in != features:  # input gradient (not needed for the observations)
                x = x + 1e-30 * jnp.einsum("sro,sio->sri", y, w)
            out.append(x)
        return out, None

    run = jax.jit(lambda xs: jax.lax.scan(step, xs, None, length=steps)[0])
    jax.block_until_ready(run(inputs))
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        jax.block_until_ready(run(inputs))
        times.append(time.perf_counter() - start)
    flops = 0
    for n_in, n_out in shapes:
        flops += 2 * seeds * rows * n_in * n_out * (2 if n_in == features else 3)
    best = float(np.min(times))
    return {"seeds": seeds, "ms_per_update": 1e3 * best, "gflops": steps * flops / best / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"Device: {describe_device()}. {args.env_id}, default config's network and minibatch.")
    print("| seeds | matmuls of one update, ms | GFLOP/s |\n|---:|---:|---:|")
    for seeds in args.seeds:
        row = measure(args.env_id, seeds, args.rounds)
        print(f"| {seeds} | {row['ms_per_update']:.3f} | {row['gflops']:.1f} |")


if __name__ == "__main__":
    main()
