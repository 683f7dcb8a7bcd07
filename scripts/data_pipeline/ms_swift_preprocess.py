#!/usr/bin/env python3
"""Seed entry point: `rlwhf data preprocess` with the canonical preset's defaults
(configs/transformer-lab/grpo_config.yaml `data:` raw_logs -> processed, format swift-grpo).
Any flag given here wins, e.g. `--streaming --input logs.jsonl --output rows.jsonl`."""

import sys

from rlwhf.cli.main import main
from rlwhf.config import load_preset


def run(argv: list[str]) -> int:
    data = load_preset()["data"]
    given = {a.split("=")[0] for a in argv}
    defaults = {"--input": data["raw_logs"], "--output": data["processed"], "--format": data.get("format", "swift-grpo")}
    extra = [x for flag, value in defaults.items() if flag not in given
             and not (flag == "--input" and "--hf-dataset" in given) for x in (flag, value)]
    return main(["data", "preprocess", *argv, *extra])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
