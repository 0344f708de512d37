"""Training throughput against the raw speed of the rollout, for 1 .. many vmapped seeds
(the same table as `purejaxppo bench`; see purejaxppo/cli/bench.py for what is measured).

    python benchmarks/throughput.py                          # 1, 8, 64, 256 seeds
    python benchmarks/throughput.py --seeds 1 64 --env-id Acrobot-v1
"""

from __future__ import annotations

import argparse
from pathlib import Path

from purejaxppo.cli.bench import run_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env-id", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--total-timesteps", type=int, default=500_000, help="per seed")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/throughput.md"))
    args = parser.parse_args()
    print(run_table(args.env_id, args.seeds, args.total_timesteps, args.out))


if __name__ == "__main__":
    main()
