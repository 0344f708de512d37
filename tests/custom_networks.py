"""Networks a user would write (purejaxrl's convention), shared by the extension tests."""

from __future__ import annotations

import distrax
import flax.linen as nn
import jax.numpy as jnp


class SmallMLP(nn.Module):
    """Feed-forward: obs [B, ...] -> (Categorical over `actions`, values [B])."""

    actions: int = 2
    width: int = 32

    @nn.compact
    def __call__(self, obs):
        x = nn.tanh(nn.Dense(self.width)(obs.reshape(obs.shape[0], -1)))
        return distrax.Categorical(logits=nn.Dense(self.actions)(x)), nn.Dense(1)(x)[..., 0]


class GaussianMLP(nn.Module):
    """Feed-forward for Box actions: a diagonal Gaussian over `actions` dimensions."""

    actions: int = 1

    @nn.compact
    def __call__(self, obs):
        x = nn.tanh(nn.Dense(32)(obs))
        mean = nn.Dense(self.actions)(x)
        log_std = self.param("log_std", nn.initializers.zeros, (self.actions,))
        policy = distrax.MultivariateNormalDiag(mean, jnp.exp(log_std) * jnp.ones_like(mean))
        return policy, nn.Dense(1)(x)[..., 0]


class SmallGRU(nn.Module):
    """Recurrent: (carry [B, size], obs, reset [B]) -> (carry, Categorical, values [B])."""

    actions: int = 2
    size: int = 16

    @nn.compact
    def __call__(self, carry, obs, reset):
        carry = jnp.where(reset[:, None], 0.0, carry)
        carry, x = nn.GRUCell(self.size)(carry, obs.reshape(obs.shape[0], -1))
        logits = nn.Dense(self.actions)(x)
        return carry, distrax.Categorical(logits=logits), nn.Dense(1)(x)[..., 0]

    def initialize_carry(self, batch_size):
        return jnp.zeros((batch_size, self.size))


class ReturnsLogits(nn.Module):
    """Wrong: returns raw logits instead of a distribution."""

    @nn.compact
    def __call__(self, obs):
        return nn.Dense(2)(obs), nn.Dense(1)(obs)[..., 0]


class SplitMLP(nn.Module):
    """An asymmetric actor-critic of one's own: the actor reads obs[..., :obs_split] only."""

    actions: int = 2
    obs_split: int = 0  # set by make_train from actor_obs_key / critic_obs_key

    @nn.compact
    def __call__(self, obs):
        actor, critic = obs[..., : self.obs_split], obs[..., self.obs_split :]
        logits = nn.Dense(self.actions)(nn.tanh(nn.Dense(32)(actor)))
        value = nn.Dense(1)(nn.tanh(nn.Dense(32)(critic)))[..., 0]
        return distrax.Categorical(logits=logits), value
