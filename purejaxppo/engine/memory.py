"""How much memory a compiled batch of runs needs, and how much a device has free."""

from __future__ import annotations

import os
from typing import Any

import jax

# Share of a device's free memory that one chunk may plan to use: XLA's estimate leaves out the
# runtime's own allocations, host copies of results and fragmentation.
MEMORY_FRACTION = 0.5


def executable_bytes(compiled: Any) -> int:
    """Per-device bytes of a compiled executable: arguments + outputs + temporaries."""
    analysis = compiled.memory_analysis()
    if analysis is None:
        raise RuntimeError("this backend gives no memory analysis; pass max_runs_per_chunk")
    sizes = (
        analysis.argument_size_in_bytes,
        analysis.output_size_in_bytes,
        analysis.temp_size_in_bytes,
    )
    return int(sum(sizes))


def host_available_bytes() -> int:
    """Free host memory: MemAvailable on Linux, free physical pages elsewhere."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def device_available_bytes(devices: list[jax.Device]) -> int:
    """Free memory of the tightest device; CPU devices split the host's free memory between them."""
    stats = devices[0].memory_stats() if devices[0].platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return min(
            d.memory_stats()["bytes_limit"] - d.memory_stats().get("bytes_in_use", 0)
            for d in devices
        )
    cpu_devices = sum(d.platform == "cpu" for d in devices)
    return host_available_bytes() // max(1, cpu_devices)
