"""One process of a 2-process `jax.distributed` run on localhost (see tests/engine/test_scale.py).

usage: python -m tests.multihost_worker PROCESS_ID NUM_PROCESSES PORT CONFIG_JSON NUM_SEEDS
Prints, from process 0, the runs' final policy losses and returns as JSON.
"""

from __future__ import annotations

import json
import sys

import jax


def main() -> None:
    process_id, num_processes, port = (int(a) for a in sys.argv[1:4])
    config_kwargs, num_seeds = json.loads(sys.argv[4]), int(sys.argv[5])
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=num_processes,
        process_id=process_id,
    )
    import purejaxppo

    config = purejaxppo.PPOConfig(**config_kwargs)
    result = purejaxppo.train(config, num_seeds=num_seeds, key=jax.random.key(9))
    if process_id == 0:
        print(
            json.dumps(
                {
                    "processes": jax.process_count(),
                    "devices": list(result.devices),
                    "loss": result.metrics["policy_loss"].tolist(),
                    "ret": result.metrics["episode_return"].tolist(),
                }
            )
        )
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
