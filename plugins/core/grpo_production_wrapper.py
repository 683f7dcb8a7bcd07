"""Seed entry point: the production training wrapper (shim over rlwhf.train; same flags as `rlwhf train`).

    python plugins/core/grpo_production_wrapper.py --plan PLAN.json [--resume] [--max-attempts N]
        [--backend swift|trl] [--max-rss-gb X]

Runs the plan, applies the out-of-memory fallback cascade and retries from the last checkpoint,
and writes telemetry under the plan's output_dir/telemetry/.
"""

import sys


def run(plan: str, **fields) -> dict:
    """`rlwhf.train.train` on a plan file (fields as in rlwhf.train.TrainConfig)."""
    from rlwhf.config import check
    from rlwhf.train import TrainConfig, train

    cfg = TrainConfig(plan=plan, **fields)
    check(cfg)
    return train(cfg)


def main(argv=None) -> int:
    from rlwhf.cli.main import main as rlwhf_main

    return rlwhf_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
