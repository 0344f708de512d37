"""Configuration: the static `PPOConfig` and the traced `HyperParams`.

Static fields fix shapes and loop counts (change one and `train` recompiles). The scalars in
`HyperParams` are leaves of a pytree passed to `train`, so `jax.vmap` over them sweeps
hyperparameters without recompiling. Every check runs when the config is built, never in a trace.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from purejaxppo.base.errors import ConfigError, config_error, is_int
from purejaxppo.core.drift import clip_drift_params
from purejaxppo.core.hparams import RANGES, HyperParams, Objective, range_problem
from purejaxppo.envs.ids import check_env_id

Activation = Literal["tanh", "relu", "gelu", "silu"]
Network = Literal["mlp", "cnn", "gru"]
Critic = Literal["local", "centralised"]


# Fields of PPOConfig that only give the default value of the same field of `config.hparams`.
TRACED_FIELDS = HyperParams.names()
SCHEDULE_FIELDS = HyperParams.schedule_names()


def _fail(field: str, value: object, problem: str, fix: str) -> ConfigError:
    return config_error(f"PPOConfig.{field}", value, problem, fix)


# Fields added after 0.1, with their defaults: written only when set otherwise (`to_dict`).
_LATER_FIELDS = {
    "actor_obs_key": None, "critic_obs_key": None, "critic": "local", "shared_parameters": True,
    "reward_shaping": None,
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Everything that defines a PPO run. Defaults: CleanRL's CartPole-v1 setting (ppo.py).

    Static fields fix shapes and loop counts; the float fields listed in `TRACED_FIELDS` only
    provide the default values of `config.hparams`, which `train` receives as a traced argument.
    """

    env_id: str = "CartPole-v1"
    """gymnax environment id (see gymnax.registered_envs)."""
    num_envs: int = 4
    """Parallel environments per run (static)."""
    num_steps: int = 128
    """Steps per environment in each rollout (static); a batch is num_envs * num_steps."""
    total_timesteps: int = 500_000
    """Environment steps per run, rounded down to whole batches (static)."""
    update_epochs: int = 4
    """Passes over each batch (static)."""
    num_minibatches: int = 4
    """Minibatches per pass; must divide num_envs * num_steps (static)."""

    learning_rate: float = 2.5e-4
    """Adam step size (traced)."""
    gamma: float = 0.99
    """Discount factor (traced)."""
    gae_lambda: float = 0.95
    """GAE lambda (traced)."""
    clip_eps: float = 0.2
    """PPO clip range for the policy ratio and the value change (traced)."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient (traced)."""
    vf_coef: float = 0.5
    """Value loss coefficient (traced)."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip (traced)."""

    network: Network = "mlp"
    """Actor and critic (static): `mlp` on flattened observations; `cnn` (3x3 convolutions, then
    the MLP) for image-like [H, W, C] observations such as MinAtar; `gru` (an embedding, a GRU
    whose state resets at episode starts, then actor and critic MLP heads) for tasks that need
    memory. With `gru`, minibatches are whole env sequences, so num_minibatches must divide
    num_envs."""
    conv_channels: tuple[int, ...] = (16,)
    """Channels of each 3x3 convolution (stride 1, same padding) of the `cnn` network (static)."""
    gru_size: int = 128
    """Hidden state size of the `gru` network; its embedding layer has the same width (static)."""
    actor_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor MLP (static)."""
    critic_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the critic MLP (static)."""
    activation: Activation = "tanh"
    """Hidden activation of both MLPs (static)."""
    log_std_init: float = 0.0
    """Initial log-std of the Gaussian policy; continuous actions only."""
    state_dependent_std: bool = False
    """Continuous actions: the Gaussian's std is a second output of the actor network (softplus,
    at least 1e-3) instead of one free parameter per action dimension, so the policy can be
    precise in some states and explore in others (gymnax-blines' Gaussian policy does this)."""

    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run (with no learning_rate_schedule)."""
    learning_rate_schedule: tuple[float, ...] | None = None
    """Multipliers of learning_rate at K >= 2 evenly spaced points from the first update to the
    end, linearly interpolated (traced; (1, 0) is linear annealing). Needs anneal_lr=False."""
    ent_coef_schedule: tuple[float, ...] | None = None
    """Multipliers of ent_coef over training, as for learning_rate_schedule (traced)."""
    clip_eps_schedule: tuple[float, ...] | None = None
    """Multipliers of clip_eps over training, as for learning_rate_schedule (traced)."""
    objective: Objective = "clip"
    """Policy objective: `clip` (PPO's clipped surrogate) or `learned_drift` (r A - drift(r, A;
    phi), `core.drift`; phi is traced in `hparams.drift` and starts as PPO-clip's drift)."""
    drift_hidden: int = 16
    """Hidden units of the learned drift (static)."""
    norm_adv: bool = True
    """Normalise advantages within each minibatch."""
    clip_vloss: bool = True
    """Clip the value change to +-clip_eps around the collection-time value (max of losses)."""
    normalize_obs: bool = False
    """Normalise observations by running mean/std (clipped to +-10)."""
    normalize_reward: bool = False
    """Divide rewards by the running std of the discounted return (clipped to +-10)."""
    reward_shaping: tuple[float, ...] | None = None
    """Weights of the env's shaped reward (JaxMARL's Overcooked: `info["shaped_reward"]`, for
    steps towards a delivered dish) at K >= 2 evenly spaced points from the first update to the
    end, linearly interpolated: the agents learn from reward + weight * shaped reward, and every
    return reported is the env's own reward (static). (1, 0, 0) anneals it from 1 to 0 over the
    first half of training, as JaxMARL's IPPO does. Not with normalize_reward."""
    actor_obs_key: str | None = None
    """Dict observations: the entry the actor sees (None: every entry) (static). With `gru`, the
    GRU reads the actor's entry and the critic head reads the GRU state and its own entry."""
    critic_obs_key: str | None = None
    """Dict observations: the entry the critic sees, e.g. privileged state the actor never sees
    (None: every entry) (static). Not with `cnn`."""
    critic: Critic = "local"
    """Multi-agent envs (`jaxmarl:...`): `local`, each agent's critic sees its own observation
    (IPPO); `centralised`, it sees the world state the env provides, or every agent's
    observation, and the agent's id (MAPPO) (static)."""
    shared_parameters: bool = True
    """Multi-agent envs: one network for every agent (its id in its observation), or, False,
    one set of weights per agent, still run as one batch (static). Not with `cnn`."""

    def __post_init__(self) -> None:
        # Tuples survive JSON and CLI round trips as lists; store them as tuples so the config
        # stays hashable (it is a static argument).
        for name in ("actor_hidden", "critic_hidden", "conv_channels", *SCHEDULE_FIELDS,
                     "reward_shaping"):  # fmt: skip
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        check_env_id(self.env_id)
        self._check_counts()
        self._check_hyperparameters()
        self._check_schedules()
        self._check_networks()
        self._check_obs_keys()

    # ----------------------------------------------------------------------------- derived counts
    @property
    def batch_size(self) -> int:
        """Transitions collected per update (num_envs * num_steps)."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        """Number of rollout+update iterations; total_timesteps is rounded down to whole batches."""
        return self.total_timesteps // self.batch_size

    @property
    def env_steps(self) -> int:
        """Environment steps actually taken by one run (num_updates whole batches)."""
        return self.num_updates * self.batch_size

    @property
    def hparams(self) -> HyperParams:
        """This config's traced hyperparameters as float32 NumPy scalars."""
        scalars = {name: np.float32(getattr(self, name)) for name in TRACED_FIELDS}
        schedules = {
            name: None
            if getattr(self, name) is None
            else np.asarray(getattr(self, name), np.float32)
            for name in SCHEDULE_FIELDS
        }
        drift = None
        if self.objective == "learned_drift":
            drift = clip_drift_params(self.clip_eps, self.drift_hidden)
        return HyperParams(**scalars, **schedules, drift=drift)

    def replace(self, **changes: object) -> PPOConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        fields = dataclasses.asdict(self)
        # Fields added after 0.1 are written only when set, so that the fingerprints of runs
        # checkpointed before them still match and those runs resume.
        return {k: v for k, v in fields.items() if k not in _LATER_FIELDS or v != _LATER_FIELDS[k]}

    # ----------------------------------------------------------------------------- validation
    def _check_counts(self) -> None:
        for name in (
            "num_envs",
            "num_steps",
            "total_timesteps",
            "update_epochs",
            "num_minibatches",
        ):
            value = getattr(self, name)
            if not is_int(value):
                raise _fail(name, value, "must be an integer", "use a whole number such as 4")
            if value < 1:
                raise _fail(name, value, "must be at least 1", "use a positive integer")
        if self.batch_size % self.num_minibatches:
            raise _fail(
                "num_minibatches",
                self.num_minibatches,
                f"does not divide the batch num_envs*num_steps={self.batch_size}",
                "choose num_minibatches among the divisors of num_envs*num_steps",
            )
        if self.total_timesteps < self.batch_size:
            raise _fail(
                "total_timesteps",
                self.total_timesteps,
                f"is smaller than one batch (num_envs*num_steps={self.batch_size})",
                f"set total_timesteps >= {self.batch_size} or reduce num_envs/num_steps",
            )

    def _check_hyperparameters(self) -> None:
        for name, (*_, fix) in RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
                raise _fail(name, value, "must be a number", f"use {fix}")
            problem = range_problem(name, value)
            if problem is not None:
                raise _fail(name, value, problem, f"use {fix}")

    def _check_schedules(self) -> None:
        for name in (*SCHEDULE_FIELDS, "reward_shaping"):
            knots = getattr(self, name)
            if knots is None:
                continue
            if len(knots) < 2 or not all(
                isinstance(k, (int, float, np.floating)) and not isinstance(k, bool)
                and np.isfinite(k) and k >= 0 for k in knots
            ):  # fmt: skip
                raise _fail(
                    name, knots, "needs two or more finite multipliers >= 0",
                    "use e.g. 1.0 0.5 0.0 (start, middle, end)",
                )  # fmt: skip
        if self.reward_shaping is not None and self.normalize_reward:
            raise _fail(
                "reward_shaping", self.reward_shaping, "is added after normalize_reward would "
                "scale the reward", "set normalize_reward=False, or reward_shaping=None",
            )  # fmt: skip
        if self.learning_rate_schedule is not None and self.anneal_lr:
            raise _fail(
                "learning_rate_schedule", self.learning_rate_schedule,
                "and anneal_lr=True both shape the learning rate",
                "set anneal_lr=False (--no-anneal-lr); the schedule 1 0 is linear annealing",
            )  # fmt: skip
        if self.objective not in ("clip", "learned_drift"):
            raise _fail("objective", self.objective, "is not known", "use clip or learned_drift")
        if not is_int(self.drift_hidden) or self.drift_hidden < 1:
            raise _fail("drift_hidden", self.drift_hidden, "must be a positive integer", "use 16")

    def _check_obs_keys(self) -> None:
        for name in ("actor_obs_key", "critic_obs_key"):
            key = getattr(self, name)
            if name == "critic_obs_key" and key is not None and self.critic != "local":
                raise _fail(name, key, f"and critic={self.critic!r} both choose what the critic "
                            "sees", "set one of them")  # fmt: skip
            if key is not None and (not isinstance(key, str) or not key):
                raise _fail(name, key, "must be an entry of the observation dict or None",
                            "e.g. 'state' or 'privileged_state'")  # fmt: skip
            if key is not None and self.network == "cnn":
                raise _fail(
                    name, key, "with network='cnn' is not supported: the CNN reads one image "
                    "[H, W, C], and the entries of a dict observation are read as one vector",
                    "use network='mlp' or 'gru', or a network of yours",
                )  # fmt: skip

    def _check_networks(self) -> None:
        for name in ("actor_hidden", "critic_hidden"):
            widths = getattr(self, name)
            if not widths or any(not is_int(w) or w < 1 for w in widths):
                raise _fail(
                    name, widths, "needs one or more positive layer widths", "use e.g. 64 64"
                )
        if not isinstance(self.shared_parameters, bool):
            raise _fail("shared_parameters", self.shared_parameters, "must be True or False",
                        "use True (one network) or False (weights per agent)")  # fmt: skip
        if not self.shared_parameters and self.network == "cnn":
            raise _fail("shared_parameters", self.shared_parameters, "with network='cnn' is "
                        "not supported", "use network='mlp' or 'gru'")  # fmt: skip
        if self.critic not in ("local", "centralised"):
            raise _fail("critic", self.critic, "is not known", "use local or centralised")
        if self.network not in ("mlp", "cnn", "gru"):
            raise _fail("network", self.network, "is not a known network", "use mlp, cnn or gru")
        if not self.conv_channels or any(not is_int(c) or c < 1 for c in self.conv_channels):
            raise _fail(
                "conv_channels", self.conv_channels, "needs one or more positive channel counts",
                "use e.g. 16",
            )  # fmt: skip
        if not is_int(self.gru_size) or self.gru_size < 1:
            raise _fail("gru_size", self.gru_size, "must be a positive integer", "use e.g. 128")
        if self.network == "gru" and self.num_envs % self.num_minibatches:
            raise _fail(
                "num_minibatches", self.num_minibatches,
                f"must divide num_envs={self.num_envs} with network='gru' (a minibatch is made of "
                "whole env sequences)",
                "choose num_minibatches among the divisors of num_envs",
            )  # fmt: skip
        if self.activation not in ("tanh", "relu", "gelu", "silu"):
            raise _fail(
                "activation",
                self.activation,
                "is not a known activation",
                "use tanh, relu, gelu or silu",
            )
        if not np.isfinite(self.log_std_init):
            raise _fail("log_std_init", self.log_std_init, "must be finite", "use e.g. 0.0 or -0.5")
