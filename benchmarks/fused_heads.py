"""Actor and critic in one pass or two: the update's gradient step timed both ways.

The networks run the actor MLP and the critic MLP (64-64 each, CartPole's shapes) as two
passes: two small matmuls per layer. Fusing them means one matmul per layer: the first layer's
weights side by side ([obs, 128]), the later ones block-diagonal ([128, 128], a quarter of it
zeros that stay zero because the blocks are built from the two weight sets inside the forward).
Same parameters, same gradients (up to float summation order: the script prints the largest
parameter difference after the steps). Each variant runs 16 minibatch steps of a PPO-style loss
(clipped surrogate, value loss, entropy) in one `lax.scan`, for 1 seed and S vmapped seeds:

    python benchmarks/fused_heads.py --seeds 1 64

`separate` is what purejaxppo does; `fused` fuses every layer, `first` only the first (no
zeros), `stacked` runs the two hidden stacks as one batched matmul per layer (a leading axis of
2, no zeros). A ratio > 1 means the variant is faster than `separate`. The device is named; timings
are medians of alternating rounds in one process.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.cli.bench import describe_device

ROWS, OBS, ACTIONS, HIDDEN, STEPS = 128, 4, 2, 64, 16  # CartPole's minibatch: 512 / 4 rows


def init(key: jax.Array) -> dict:
    keys = jax.random.split(key, 6)
    ortho = jax.nn.initializers.orthogonal(np.sqrt(2.0))

    def layer(k: jax.Array, n_in: int, n_out: int) -> dict:
        return {"w": ortho(k, (n_in, n_out)), "b": jnp.zeros(n_out)}

    sizes = [(OBS, HIDDEN), (HIDDEN, HIDDEN)]
    actor = [layer(keys[i], *s) for i, s in enumerate(sizes)] + [layer(keys[2], HIDDEN, ACTIONS)]
    critic = [layer(keys[3 + i], *s) for i, s in enumerate(sizes)] + [layer(keys[5], HIDDEN, 1)]
    return {"actor": actor, "critic": critic}


def mlp(layers: list[dict], x: jax.Array) -> jax.Array:
    for p in layers[:-1]:
        x = jnp.tanh(x @ p["w"] + p["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


def separate(params: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return mlp(params["actor"], x), mlp(params["critic"], x)[..., 0]


def _block_diagonal(a: jax.Array, c: jax.Array) -> jax.Array:
    top = jnp.concatenate([a, jnp.zeros((a.shape[0], c.shape[1]), a.dtype)], 1)
    bottom = jnp.concatenate([jnp.zeros((c.shape[0], a.shape[1]), a.dtype), c], 1)
    return jnp.concatenate([top, bottom], 0)


def _first_layer(params: dict, x: jax.Array) -> jax.Array:
    a, c = params["actor"][0], params["critic"][0]
    return jnp.tanh(x @ jnp.concatenate([a["w"], c["w"]], 1) + jnp.concatenate([a["b"], c["b"]]))


def fused(params: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = _first_layer(params, x)
    for a, c in zip(params["actor"][1:], params["critic"][1:], strict=True):
        out = h @ _block_diagonal(a["w"], c["w"]) + jnp.concatenate([a["b"], c["b"]])
        h = jnp.tanh(out)
    return out[..., :ACTIONS], out[..., ACTIONS]


def first(params: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = _first_layer(params, x)
    actor = mlp(params["actor"][1:], h[..., :HIDDEN])
    return actor, mlp(params["critic"][1:], h[..., HIDDEN:])[..., 0]


def stacked(params: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Both hidden stacks as one batched matmul per layer (a leading axis of 2, no zeros)."""
    h = x[None]
    for a, c in zip(params["actor"][:-1], params["critic"][:-1], strict=True):
        w, b = jnp.stack([a["w"], c["w"]]), jnp.stack([a["b"], c["b"]])
        h = jnp.tanh(jnp.einsum("n...i,nio->n...o", jnp.broadcast_to(h, (2, *h.shape[1:])), w)
                     + b[:, None, :])  # fmt: skip
    actor, critic = params["actor"][-1], params["critic"][-1]
    return h[0] @ actor["w"] + actor["b"], (h[1] @ critic["w"] + critic["b"])[..., 0]


def loss(params: dict, batch: tuple, forward) -> jax.Array:
    obs, action, old_log_prob, advantage, target = batch
    logits, value = forward(params, obs)
    log_probs = jax.nn.log_softmax(logits)
    log_prob = jnp.take_along_axis(log_probs, action[:, None], 1)[:, 0]
    ratio = jnp.exp(log_prob - old_log_prob)
    surrogate = jnp.minimum(ratio * advantage, jnp.clip(ratio, 0.8, 1.2) * advantage)
    entropy = -jnp.sum(jnp.exp(log_probs) * log_probs, -1)
    return -surrogate.mean() + 0.5 * ((value - target) ** 2).mean() - 0.01 * entropy.mean()


def steps(forward, seeds: int):
    def run(params: dict, batch: tuple) -> dict:
        def body(p: dict, _: None) -> tuple[dict, None]:
            grads = jax.grad(loss)(p, batch, forward)
            return jax.tree.map(lambda w, g: w - 1e-3 * g, p, grads), None

        return jax.lax.scan(body, params, None, length=STEPS)[0]

    return jax.jit(jax.vmap(run) if seeds > 1 else run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"Device: {describe_device()}. {STEPS} minibatch steps of {ROWS} rows per call.")
    variants = {"separate": separate, "fused": fused, "first": first, "stacked": stacked}
    for seeds in args.seeds:
        keys = jax.random.split(jax.random.key(0), seeds)
        params = jax.vmap(init)(keys) if seeds > 1 else init(keys[0])
        k = jax.random.split(jax.random.key(1), 3)
        shape = (seeds, ROWS) if seeds > 1 else (ROWS,)
        obs = jax.random.normal(k[0], (*shape, OBS))
        actions = jax.random.randint(k[1], shape, 0, ACTIONS)
        batch = (
            obs,
            actions,
            jnp.full(shape, -0.7),
            jax.random.normal(k[2], shape),
            jnp.ones(shape),
        )
        fns = {name: steps(f, seeds) for name, f in variants.items()}
        outs = {name: jax.block_until_ready(f(params, batch)) for name, f in fns.items()}
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(args.rounds):
            for name, f in fns.items():
                start = time.perf_counter()
                jax.block_until_ready(f(params, batch))
                times[name].append(time.perf_counter() - start)
        base = float(np.median(times["separate"]))
        for name in fns:
            pairs = zip(jax.tree.leaves(outs["separate"]), jax.tree.leaves(outs[name]), strict=True)
            diff = max(float(jnp.abs(a - b).max()) for a, b in pairs)
            ms = float(np.median(times[name])) * 1e3
            print(f"seeds {seeds:5d}  {name:9s} {ms:9.2f} ms  ratio {base * 1e3 / ms:5.2f}x  "
                  f"max param diff {diff:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
