"""`rlwhf train --plan FILE [--resume] [--max-attempts N] [--backend swift|trl] [--max-rss-gb X]`."""

from __future__ import annotations

import json

from rlwhf.config import add_arguments, from_namespace
from rlwhf.train.config import TrainConfig


def register(sub):
    p = sub.add_parser(
        "train",
        help="run a launch plan (GRPO/DPO) with OOM fallback, resume and telemetry",
        description="Run a plan written by `rlwhf plan` through ms-swift (subprocess) or TRL (in its own "
        "process). Out-of-memory failures apply the next fallback-cascade step and retry from the last "
        "checkpoint. Telemetry (memory trace, per-step metrics, summary, plots) lands in "
        "OUTPUT_DIR/telemetry/. Prints the result as JSON on stdout.",
    )
    add_arguments(p, TrainConfig)
    p.set_defaults(group_parser=p, func=run)


def run(args) -> int:
    from rlwhf.train import train

    result = train(from_namespace(TrainConfig, args))
    print(json.dumps(result, indent=2))
    return 0
