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

    `count` starts at a tiny positive value, as in Gym's wrappers, so the first update is well
    defined and an unused statistic normalises nothing away (mean 0, var 1).
    """

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @staticmethod
    def create(shape: tuple[int, ...]) -> RunningMeanStd:
        return RunningMeanStd(
            mean=jnp.zeros(shape, jnp.float32),
            var=jnp.ones(shape, jnp.float32),
            count=jnp.asarray(1e-4, jnp.float32),
        )

    def update(self, batch: jax.Array) -> RunningMeanStd:
        """Fold in `batch` of shape [N, *shape]."""
        batch_mean = jnp.mean(batch, axis=0)
        batch_var = jnp.var(batch, axis=0)
        batch_count = jnp.asarray(batch.shape[0], jnp.float32)
        delta = batch_mean - self.mean
        total = self.count + batch_count
        mean = self.mean + delta * batch_count / total
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + delta**2 * self.count * batch_count / total
        )
        return RunningMeanStd(mean=mean, var=m2 / total, count=total)

    def normalize(self, x: jax.Array, clip: float = OBS_CLIP) -> jax.Array:
        """(x - mean) / std, clipped to +-clip."""
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + EPSILON), -clip, clip)


@struct.dataclass
class RewardScaler:
    """Divides rewards by the running std of the discounted return (Engstrom et al. 2020).

    `returns` [num_envs] is each env's discounted return so far; it restarts at every episode end.
    """

    returns: jax.Array
    stats: RunningMeanStd

    @staticmethod
    def create(num_envs: int) -> RewardScaler:
        return RewardScaler(
            returns=jnp.zeros((num_envs,), jnp.float32), stats=RunningMeanStd.create(())
        )

    def update(
        self, reward: jax.Array, done: jax.Array, gamma: jax.Array
    ) -> tuple[RewardScaler, jax.Array]:
        """Fold in one step's rewards [num_envs]; returns the new scaler and the scaled rewards."""
        returns = self.returns * gamma + reward
        stats = self.stats.update(returns)
        scaled = jnp.clip(reward / jnp.sqrt(stats.var + EPSILON), -REWARD_CLIP, REWARD_CLIP)
        return RewardScaler(returns=jnp.where(done, 0.0, returns), stats=stats), scaled
