"""`rlwhf launch`: the whole loop on the embedded default or your own logs and model."""

from __future__ import annotations

import json
import sys

from rlwhf.config import add_arguments, from_namespace


def register(sub):
    from rlwhf.launch import LaunchConfig

    p = sub.add_parser(
        "launch",
        help="gate -> reward -> plan -> policy -> evaluate -> GRPO -> evaluate -> report, in one command",
        description="Run the whole RLWHF loop. With no arguments: the built-in honesty corpus and the embedded "
        "tiny policy on whatever hardware is present (CPU is enough). Re-running with the same --output_dir "
        "resumes: finished stages are skipped.",
    )
    add_arguments(p, LaunchConfig)
    p.set_defaults(func=_launch, group_parser=p)


def _launch(args) -> int:
    from rlwhf.launch import LaunchConfig, launch

    cfg = from_namespace(LaunchConfig, args)
    report = launch(cfg)
    b, a = report["before"], report["after"]
    print(json.dumps({
        "report": f"{cfg.output_dir}/report.json",
        "before": {k: b.get(k) for k in ("accuracy", "hallucination_rate", "abstention_rate")},
        "after": {k: a.get(k) for k in ("accuracy", "hallucination_rate", "abstention_rate", "honesty_score")},
        "wall_seconds": report["wall_seconds"],
    }, indent=2))
    print(f"report: {cfg.output_dir}/report.md", file=sys.stderr)
    return 0
