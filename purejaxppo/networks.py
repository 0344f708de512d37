"""Actor-critic networks: separate actor and critic MLPs with the orthogonal init of PPO.

Init: orthogonal weights with gain sqrt(2) in hidden layers, 0.01 for the policy head and 1.0 for
the value head; zero biases. Discrete actions: a categorical over logits. Continuous actions: a
diagonal Gaussian whose log-std is a free parameter independent of the state.
"""

from __future__ import annotations

from collections.abc import Callable

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.config import PPOConfig
from purejaxppo.envs import EnvSpec

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": nn.relu,
    "gelu": nn.gelu,
    "silu": nn.silu,
}


class MLP(nn.Module):
    """Dense layers with orthogonal init; the output layer has its own gain."""

    hidden: tuple[int, ...]
    out_dim: int
    out_gain: float
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        zeros = nn.initializers.zeros_init()
        for width in self.hidden:
            x = nn.Dense(
                width, kernel_init=nn.initializers.orthogonal(np.sqrt(2.0)), bias_init=zeros
            )(x)
            x = act(x)
        return nn.Dense(
            self.out_dim, kernel_init=nn.initializers.orthogonal(self.out_gain), bias_init=zeros
        )(x)


class ActorCritic(nn.Module):
    """Observations [..., *obs_shape] -> (action distribution, batch shape [...]; values [...])."""

    obs_shape: tuple[int, ...]
    discrete: bool
    num_actions: int
    actor_hidden: tuple[int, ...] = (64, 64)
    critic_hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    log_std_init: float = 0.0

    def setup(self) -> None:
        self.actor_net = MLP(self.actor_hidden, self.num_actions, 0.01, self.activation)
        self.critic_net = MLP(self.critic_hidden, 1, 1.0, self.activation)
        if not self.discrete:
            self.log_std = self.param(
                "log_std", nn.initializers.constant(self.log_std_init), (self.num_actions,)
            )

    def _flatten(self, obs: jax.Array) -> jax.Array:
        batch_shape = obs.shape[: obs.ndim - len(self.obs_shape)]
        return obs.reshape((*batch_shape, -1)).astype(jnp.float32)

    def actor(self, obs: jax.Array) -> distrax.Distribution:
        out = self.actor_net(self._flatten(obs))
        if self.discrete:
            return distrax.Categorical(logits=out)
        return distrax.MultivariateNormalDiag(
            out, jnp.broadcast_to(jnp.exp(self.log_std), out.shape)
        )

    def critic(self, obs: jax.Array) -> jax.Array:
        return self.critic_net(self._flatten(obs))[..., 0]

    def __call__(self, obs: jax.Array) -> tuple[distrax.Distribution, jax.Array]:
        return self.actor(obs), self.critic(obs)


def make_network(config: PPOConfig, spec: EnvSpec) -> ActorCritic:
    return ActorCritic(
        obs_shape=spec.obs_shape,
        discrete=spec.discrete,
        num_actions=spec.num_actions,
        actor_hidden=config.actor_hidden,
        critic_hidden=config.critic_hidden,
        activation=config.activation,
        log_std_init=config.log_std_init,
    )
