"""Which devices JAX uses: one CPU device per core, and how devices are named in results.

Kept free of gymnax (whose import starts a JAX backend) so that it can run first.
"""

from __future__ import annotations

import os
import warnings

import jax


def use_cpu_cores(count: int | None = None) -> int:
    """Give XLA one CPU device per core, so that runs sharded over devices use every core.

    One XLA:CPU device runs a vmapped batch of small PPO runs mostly on one core; sharding the
    runs axis over one device per core was 1.7x faster with 64 CartPole seeds on a 2-core machine.
    Must be called before JAX starts its backends; returns the number of CPU devices in effect.
    """
    from jax._src import xla_bridge

    count = count or os.cpu_count() or 1
    if xla_bridge.backends_are_initialized():
        actual = len(jax.devices("cpu"))
        if actual != count:
            warnings.warn(
                f"use_cpu_cores({count}): JAX has already started with {actual} CPU device(s); "
                "call it before any JAX computation.",
                stacklevel=2,
            )
        return actual
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        jax.config.update("jax_num_cpu_devices", count)
    return len(jax.devices("cpu"))


def describe_devices(devices: list[jax.Device]) -> tuple[str, ...]:
    return tuple(f"{d.platform}:{d.id} ({d.device_kind})" for d in devices)
