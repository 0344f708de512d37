"""Actor-critic networks with the orthogonal init of PPO.

`ActorCritic`: separate actor and critic MLPs on flattened observations, or, with conv_channels,
each with its own 3x3 convolutions on image-like [H, W, C] observations first.
`RecurrentActorCritic`: a shared embedding and GRU whose state resets at episode starts, then
separate actor and critic MLP heads.

Init: orthogonal weights with gain sqrt(2) in hidden layers, 0.01 for the policy head and 1.0 for
the value head; zero biases. Discrete actions: a categorical over logits. Continuous actions: a
diagonal Gaussian whose log-std is a free parameter independent of the state, or, with
`state_dependent_std`, whose std is a second output of the actor network (see
`_ActorCriticBase.policy`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from purejaxppo.core.config import PPOConfig
from purejaxppo.core.per_agent import AgentGRUCell, dense
from purejaxppo.envs.registry import EnvSpec

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": nn.relu,
    "gelu": nn.gelu,
    "silu": nn.silu,
}


def patches_3x3(x: jax.Array) -> jax.Array:
    """[..., H, W, C] -> [..., H, W, 9C]: each pixel's 3x3 neighbourhood (zero padded).

    A 3x3 convolution (stride 1, same padding) is these patches times a [9C, F] matrix. Written
    so because XLA:CPU runs the gradient of `lax.conv` inside a loop (the update's scan) about
    16x slower than at the top level, and this matmul form does not (docs/benchmark-notes.md).
    On a GPU both are matmuls for cuBLAS/cuDNN.
    """
    pad = [(0, 0)] * (x.ndim - 3) + [(1, 1), (1, 1), (0, 0)]
    padded = jnp.pad(x, pad)
    height, width = x.shape[-3], x.shape[-2]
    shifted = [padded[..., i : i + height, j : j + width, :] for i in range(3) for j in range(3)]
    return jnp.concatenate(shifted, axis=-1)


class MLP(nn.Module):
    """Dense layers with orthogonal init; the output layer has its own gain.

    With `conv_channels`, x is [..., H, W, C] and goes through 3x3 convolutions (stride 1, same
    padding, as patches times a matrix: see `patches_3x3`) before it is flattened; otherwise x is
    [..., features].
    """

    hidden: tuple[int, ...]
    out_dim: int
    out_gain: float
    activation: str = "tanh"
    conv_channels: tuple[int, ...] = ()
    agents: int = 0  # > 0: x is [..., agents, features], each agent with its own weights

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        zeros = nn.initializers.zeros_init()
        if self.conv_channels:
            for channels in self.conv_channels:
                x = nn.Dense(
                    channels, kernel_init=nn.initializers.orthogonal(np.sqrt(2.0)), bias_init=zeros
                )(patches_3x3(x))
                x = act(x)
            x = x.reshape((*x.shape[:-3], -1))
        for width in self.hidden:
            x = act(dense(width, nn.initializers.orthogonal(np.sqrt(2.0)), self.agents)(x))
        return dense(self.out_dim, nn.initializers.orthogonal(self.out_gain), self.agents)(x)


def flat_features(obs: jax.Array, obs_shape: tuple[int, ...], obs_categories: int) -> jax.Array:
    """[..., *obs_shape] -> float32 [..., features]; a Discrete observation (obs_categories > 0,
    obs_shape ()) becomes a one-hot vector, because its integer value is a label, not a size."""
    batch_shape = obs.shape[: obs.ndim - len(obs_shape)]
    if obs_categories:
        return jax.nn.one_hot(obs.astype(jnp.int32).reshape(batch_shape), obs_categories)
    return obs.reshape((*batch_shape, -1)).astype(jnp.float32)


# Smallest std of a state-dependent Gaussian, so that log-probs stay finite.
MIN_STD = 1e-3
ILLEGAL_LOGIT = -1e9  # the logit of an action that the env's action mask rules out


class _ActorCriticBase(nn.Module):
    """What the feed-forward and the recurrent actor-critic share: their fields, the actor and
    critic MLP heads, and the action distribution."""

    obs_shape: tuple[int, ...]
    discrete: bool
    num_actions: int
    obs_categories: int = 0  # > 0: Discrete observations, one-hot encoded
    action_mask: bool = False  # the observation ends with the legal actions (EnvSpec.action_mask)
    actor_hidden: tuple[int, ...] = (64, 64)
    critic_hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    log_std_init: float = 0.0
    state_dependent_std: bool = False
    # > 0: features [..., :obs_split] are the actor's, the rest the critic's (EnvSpec.obs_split)
    obs_split: int = 0
    # > 0: a multi-agent env's observations [..., agents, ...], each agent with its own weights
    # (PPOConfig.shared_parameters=False)
    agents: int = 0

    def _setup_heads(self, conv_channels: tuple[int, ...] = ()) -> None:
        """The actor MLP (logits, means, or means and raw stds), the critic MLP, and the
        state-independent log-std parameter where the policy has one."""
        state_dependent = self.state_dependent_std and not self.discrete
        outputs = self.num_actions * (2 if state_dependent else 1)
        self.actor_net = MLP(
            self.actor_hidden, outputs, 0.01, self.activation, conv_channels, self.agents
        )
        self.critic_net = MLP(
            self.critic_hidden, 1, 1.0, self.activation, conv_channels, self.agents
        )
        if not self.discrete and not self.state_dependent_std:
            shape = (*((self.agents,) if self.agents else ()), self.num_actions)
            self.log_std = self.param("log_std", nn.initializers.constant(self.log_std_init), shape)

    @property
    def init_batch(self) -> tuple[int, ...]:
        """The batch shape of the observations the parameters are created with."""
        return (1, self.agents) if self.agents else (1,)

    def sampling_noise(self, key: jax.Array, batch_shape: tuple[int, ...]) -> jax.Array:
        """Noise for `sample_with_noise` of `batch_shape` actions: Gumbel noise per logit
        (discrete) or standard normal noise per action dimension (continuous), [*batch_shape, A].

        The rollout draws the noise of all its steps in one vectorised call: on a CPU each call
        of the random-bit generator is a loop of several kernels, on a GPU one more launch."""
        shape = (*batch_shape, self.num_actions)
        return jax.random.gumbel(key, shape) if self.discrete else jax.random.normal(key, shape)

    def sample_with_noise(self, policy: distrax.Distribution, noise: jax.Array) -> jax.Array:
        """An action of `policy` from `noise` (see `sampling_noise`): the Gumbel-max trick
        (what `jax.random.categorical` does) or mean + std * noise."""
        if self.discrete:
            return jnp.argmax(policy.logits + noise, axis=-1)
        return policy.loc + policy.scale_diag * noise

    def masked(self, out: jax.Array, features: jax.Array | None) -> jax.Array:
        """The actor's output with the illegal actions' logits set to ILLEGAL_LOGIT, where the
        env gives its legal actions as the (flat) observation's last entries (`action_mask`);
        `features` is that observation as `flat_features` gives it.

        A large finite negative, not -inf: an illegal action's probability is then exactly 0
        and the entropy's p * log p stays 0 instead of nan."""
        if not self.action_mask or features is None:
            return out
        return jnp.where(features[..., -self.num_actions :] > 0.5, out, ILLEGAL_LOGIT)

    def policy(self, out: jax.Array) -> distrax.Distribution:
        """The action distribution from the actor's output `out` [..., outputs].

        Discrete: a categorical over logits. Continuous: a diagonal Gaussian with mean
        out[..., :A] and std exp(log_std) (a parameter), or with `state_dependent_std`
        std = softplus(out[..., A:] + b) + MIN_STD, where b makes the initial std
        exp(log_std_init) (the actor's last layer starts near 0).
        """
        if self.discrete:
            return distrax.Categorical(logits=out)
        if not self.state_dependent_std:
            return distrax.MultivariateNormalDiag(
                out, jnp.broadcast_to(jnp.exp(self.log_std), out.shape)
            )
        mean, raw_std = jnp.split(out, 2, axis=-1)
        initial = max(float(np.exp(self.log_std_init)) - MIN_STD, MIN_STD)
        offset = float(np.log(np.expm1(initial)))  # the inverse of softplus
        return distrax.MultivariateNormalDiag(mean, jax.nn.softplus(raw_std + offset) + MIN_STD)


class ActorCritic(_ActorCriticBase):
    """Observations [..., *obs_shape] -> (action distribution, batch shape [...]; values [...])."""

    conv_channels: tuple[int, ...] = ()  # non-empty: a CNN on [..., H, W, C] observations

    def setup(self) -> None:
        self._setup_heads(self.conv_channels)

    def _prepare(self, obs: jax.Array) -> jax.Array:
        if self.conv_channels:
            return obs.astype(jnp.float32)
        return flat_features(obs, self.obs_shape, self.obs_categories)

    def actor(self, obs: jax.Array) -> distrax.Distribution:
        features = self._prepare(obs)  # flat whenever there is a mask (EnvSpec.action_mask)
        if self.obs_split:
            features = features[..., : self.obs_split]
        return self.policy(self.masked(self.actor_net(features), features))

    def critic(self, obs: jax.Array) -> jax.Array:
        features = self._prepare(obs)
        if self.obs_split:
            features = features[..., self.obs_split :]
        return self.critic_net(features)[..., 0]

    def __call__(self, obs: jax.Array) -> tuple[distrax.Distribution, jax.Array]:
        return self.actor(obs), self.critic(obs)


class RecurrentActorCritic(_ActorCriticBase):
    """Embedding -> GRU -> separate actor and critic MLP heads.

    The GRU state is reset to zeros before a step whose `start` flag is set (the first step of an
    episode). With `obs_split` (a privileged critic) the GRU reads the actor's part only and the
    critic head reads the GRU state and the critic's part of the current observation, so the
    actor's memory never sees privileged state. Time is not a module axis: callers scan `step`
    over time (see `unroll`), so the same parameters serve the rollout (one step at a time) and
    the update (whole sequences).
    """

    gru_size: int = 128

    def setup(self) -> None:
        self.embed = dense(self.gru_size, nn.initializers.orthogonal(np.sqrt(2.0)), self.agents)
        self.cell = (
            AgentGRUCell(self.gru_size, self.agents) if self.agents else nn.GRUCell(self.gru_size)
        )
        self._setup_heads()

    def initial_hidden(self, batch_shape: tuple[int, ...]) -> jax.Array:
        """Zeros [*batch_shape, gru_size] (needs no parameters)."""
        return jnp.zeros((*batch_shape, self.gru_size), jnp.float32)

    def step(self, hidden: jax.Array, obs: jax.Array, start: jax.Array) -> jax.Array:
        """hidden [..., H], obs [..., *obs_shape], start [...] bool -> the new hidden [..., H]."""
        x = flat_features(obs, self.obs_shape, self.obs_categories)
        if self.obs_split:
            x = x[..., : self.obs_split]
        x = ACTIVATIONS[self.activation](self.embed(x))
        hidden = jnp.where(start[..., None], 0.0, hidden)
        hidden, _ = self.cell(hidden, x)
        return hidden

    def heads(
        self, hidden: jax.Array, obs: jax.Array | None = None
    ) -> tuple[distrax.Distribution, jax.Array]:
        """hidden [..., H] -> (action distribution over [...], values [...]); `obs` [...,
        *obs_shape], the observation the GRU just read, gives the action mask (if any) and the
        critic's part (with `obs_split`: then it is needed)."""
        read = (self.action_mask or self.obs_split) and obs is not None
        features = flat_features(obs, self.obs_shape, self.obs_categories) if read else None
        out = self.masked(self.actor_net(hidden), features)
        critic_in = hidden
        if self.obs_split:
            critic_in = jnp.concatenate([hidden, features[..., self.obs_split :]], axis=-1)
        return self.policy(out), self.critic_net(critic_in)[..., 0]

    def __call__(self, hidden: jax.Array, obs: jax.Array, start: jax.Array):
        """One step (used to create the parameters): (new hidden, policy, value)."""
        hidden = self.step(hidden, obs, start)
        return (hidden, *self.heads(hidden, obs))


def unroll(
    network: RecurrentActorCritic, params: Any, hidden: jax.Array, obs: jax.Array, start: jax.Array
) -> jax.Array:
    """The GRU over time: hidden [B, H], obs [T, B, ...], start [T, B] -> hiddens [T, B, H]."""

    def one_step(h: jax.Array, inputs: tuple[jax.Array, jax.Array]):
        h = network.apply(params, h, *inputs, method=RecurrentActorCritic.step)
        return h, h

    return jax.lax.scan(one_step, hidden, (obs, start))[1]


def make_network(config: PPOConfig, spec: EnvSpec) -> ActorCritic | RecurrentActorCritic:
    common = {
        "obs_shape": spec.obs_shape,
        "obs_categories": spec.obs_categories,
        "action_mask": spec.action_mask,
        "discrete": spec.discrete,
        "num_actions": spec.num_actions,
        "actor_hidden": config.actor_hidden,
        "critic_hidden": config.critic_hidden,
        "activation": config.activation,
        "log_std_init": config.log_std_init,
        "state_dependent_std": config.state_dependent_std,
        "obs_split": spec.obs_split,
        "agents": 0 if config.shared_parameters else spec.num_agents,
    }
    if config.network == "gru":
        return RecurrentActorCritic(gru_size=config.gru_size, **common)
    conv = config.conv_channels if config.network == "cnn" else ()
    return ActorCritic(conv_channels=conv, **common)
