"""Running statistics for observation normalisation and reward scaling.

Both live in the training state (so they are returned, checkpointed and can be averaged across
devices); both are no-ops on the data unless their flag is set in the config.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

OBS_CLIP = 10.0
REWARD_CLIP = 10.0
EPSILON = 1e-8


@struct.dataclass
class RunningMeanStd:
    """Mean and variance of a stream of batches (Chan et al.'s parallel update).

    `count` is exact (uint32: a float32 count stops growing past 2**24 samples, and the weight
    of every later batch would be wrong). An unused statistic (count 0) normalises nothing
    away: mean 0, var 1.
    """

    mean: jax.Array
    var: jax.Array
    count: jax.Array  # [] uint32

    @staticmethod
    def create(shape: tuple[int, ...]) -> RunningMeanStd:
        return RunningMeanStd(
            mean=jnp.zeros(shape, jnp.float32),
            var=jnp.ones(shape, jnp.float32),
            count=jnp.zeros((), jnp.uint32),
        )

    def update(self, batch: jax.Array, weights: jax.Array | None = None) -> RunningMeanStd:
        """Fold in `batch` [N, *shape]; `weights` [N] of 0 or 1 leave rows out (left-out rows
        may hold anything, NaN included; with no row left, the statistics stay as they are)."""
        if weights is None:
            return self._fold_in(batch, jnp.ones(batch.shape[:1], jnp.float32))
        grow = (slice(None),) + (None,) * (batch.ndim - 1)
        kept = weights.astype(bool)[grow]
        # A select, not a product with the weight: 0 * NaN is NaN.
        updated = self._fold_in(jnp.where(kept, batch, 0.0), weights.astype(jnp.float32))
        return jax.tree.map(lambda new, old: jnp.where(jnp.any(kept), new, old), updated, self)

    def _fold_in(self, batch: jax.Array, weights: jax.Array) -> RunningMeanStd:
        grow = (slice(None),) + (None,) * (batch.ndim - 1)
        batch_count = jnp.sum(weights)
        batch_mean = jnp.sum(weights[grow] * batch, axis=0) / batch_count
        batch_var = jnp.sum(weights[grow] * (batch - batch_mean) ** 2, axis=0) / batch_count
        total = self.count + batch_count.astype(jnp.uint32)
        old_share = self.count.astype(jnp.float32) / total.astype(jnp.float32)
        new_share = 1.0 - old_share
        delta = batch_mean - self.mean
        mean = self.mean + delta * new_share
        var = self.var * old_share + batch_var * new_share + delta**2 * old_share * new_share
        return RunningMeanStd(mean=mean, var=var, count=total)

    def normalize(self, x: jax.Array, clip: float = OBS_CLIP) -> jax.Array:
        """(x - mean) / std, clipped to +-clip."""
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + EPSILON), -clip, clip)


@struct.dataclass
class RewardScaler:
    """Divides rewards by the running std of the discounted return (Engstrom et al. 2020).

    `returns` [num_envs] (a multi-agent env's [num_envs, agents]: one per agent) is each env's
    discounted return so far; it restarts at every episode end.
    """

    returns: jax.Array
    stats: RunningMeanStd

    @staticmethod
    def create(shape: int | tuple[int, ...]) -> RewardScaler:
        """For `shape` envs: num_envs, or (num_envs, agents)."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return RewardScaler(returns=jnp.zeros(shape, jnp.float32), stats=RunningMeanStd.create(()))

    def update(
        self, reward: jax.Array, done: jax.Array, gamma: jax.Array
    ) -> tuple[RewardScaler, jax.Array]:
        """Fold in one step's rewards [num_envs] (or [num_envs, agents]); returns the new scaler
        and the scaled rewards."""
        returns = self.returns * gamma + reward
        stats = self.stats.update(returns.reshape(-1))
        scaled = jnp.clip(reward / jnp.sqrt(stats.var + EPSILON), -REWARD_CLIP, REWARD_CLIP)
        return RewardScaler(returns=jnp.where(done, 0.0, returns), stats=stats), scaled
