"""Layers with one set of weights per agent, for multi-agent envs trained with
`PPOConfig(shared_parameters=False)`: inputs [..., A, features], agent a through its own weights.

One einsum over the stacked weights [A, in, out] instead of A networks, so the agents still run
as one batch. The orthogonal init draws each agent's matrix on its own (a loop, not vmap: XLA:CPU
deadlocks on batched QRs, see `trainer.make_train_functions`), so every agent starts as a
shared-parameter network would.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

Init = Callable[[jax.Array, tuple[int, ...], jnp.dtype], jax.Array]


def stacked(init: Init) -> Init:
    """`init` of one agent's [in, out] matrix, drawn for each of shape[0] agents in turn."""

    def draw(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype = jnp.float32) -> jax.Array:
        keys = jax.random.split(key, shape[0])
        return jnp.stack([init(k, shape[1:], dtype) for k in keys])

    return draw


class AgentDense(nn.Module):
    """A Dense layer per agent: x [..., A, in] -> [..., A, features]."""

    features: int
    agents: int
    kernel_init: Init = nn.initializers.lecun_normal()
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        shape = (self.agents, x.shape[-1], self.features)
        kernel = self.param("kernel", stacked(self.kernel_init), shape)
        y = jnp.einsum("...ai,aio->...ao", x, kernel)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros_init(), (self.agents, self.features))
        return y


def dense(features: int, kernel_init: Init, agents: int) -> nn.Module:
    """nn.Dense with zero biases, or, for `agents` > 0, one per agent."""
    if agents:
        return AgentDense(features, agents, kernel_init)
    return nn.Dense(features, kernel_init=kernel_init, bias_init=nn.initializers.zeros_init())


class AgentGRUCell(nn.Module):
    """flax's GRUCell (the same gates and inits) with weights per agent: (h [..., A, H],
    x [..., A, in]) -> (h', h')."""

    features: int
    agents: int

    @nn.compact
    def __call__(self, h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        def inputs(name: str) -> jax.Array:
            return AgentDense(self.features, self.agents, name=f"i{name}")(x)

        def hidden(name: str, bias: bool = False) -> jax.Array:
            layer = AgentDense(self.features, self.agents, nn.initializers.orthogonal(),
                               use_bias=bias, name=f"h{name}")  # fmt: skip
            return layer(h)

        r = nn.sigmoid(inputs("r") + hidden("r"))
        z = nn.sigmoid(inputs("z") + hidden("z"))
        n = jnp.tanh(inputs("n") + r * hidden("n", bias=True))
        new_h = (1.0 - z) * n + z * h
        return new_h, new_h
