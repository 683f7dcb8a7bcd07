#!/usr/bin/env python3
"""Seed entry point: `rlwhf data gate FILE [flags]` (same flags and exit codes). Without arguments it
gates the canonical preset's raw_logs into its clean / quarantine / gate_report paths."""

import sys

from rlwhf.cli.main import main
from rlwhf.preset import load_preset


def run(argv: list[str]) -> int:
    if not argv:
        data = load_preset().data
        missing = [k for k in ("raw_logs", "clean", "quarantine", "gate_report") if not getattr(data, k)]
        if missing:
            print(f"data_quality_gate: error: the preset has no data.{missing[0]}: pass FILE and the --clean, "
                  "--quarantine and --report flags", file=sys.stderr)
            return 2
        argv = [data.raw_logs, "--clean", data.clean, "--quarantine", data.quarantine, "--report", data.gate_report]
    return main(["data", "gate", *argv])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
