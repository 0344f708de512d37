"""Which devices JAX uses: one CPU device per core, and how devices are named in results.

Kept free of gymnax (whose import starts a JAX backend) so that it can run first.
"""

from __future__ import annotations

import os
import warnings

import jax

RUNS_AXIS = "runs"


def use_cpu_cores(count: int | None = None) -> int:
    """Give XLA one CPU device per core, so that runs sharded over devices use every core.

    One XLA:CPU device runs a vmapped batch of small PPO runs mostly on one core; sharding the
    runs axis over one device per core uses them all (BENCHMARKS.md has the measurements).
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


def runs_sharding(devices: list[jax.Device]) -> jax.sharding.NamedSharding:
    """Sharding of arrays whose leading axis is the runs axis, over `devices`."""
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    return NamedSharding(Mesh(np.array(devices), (RUNS_AXIS,)), PartitionSpec(RUNS_AXIS))


def global_array(host, sharding: jax.sharding.Sharding) -> jax.Array:
    """A global (possibly multi-process) array from a host array every process holds in full."""
    import numpy as np

    host = np.asarray(host)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def to_host(x: jax.Array):
    """The whole of a global array as a NumPy array, in every process."""
    import numpy as np

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
