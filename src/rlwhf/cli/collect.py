"""`rlwhf collect`: a student answers, the teacher grades, and the graded answers become honesty logs.

The loop's data source: `rlwhf collect ... --output-dir DIR` writes DIR/honesty_logs.jsonl (canonical tuples
that `rlwhf data gate` accepts as they are and `rlwhf launch --dataset_path` trains on) beside the evaluation's
answers.jsonl and metrics.json. Same flags and exit codes as `rlwhf evaluate` (0 ok, 1 some error rows, 2 usage).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rlwhf.config import add_arguments, from_namespace


def register(sub):
    from rlwhf.evaluate.evaluation import EvaluateConfig

    p = sub.add_parser(
        "collect",
        help="student answers -> teacher grades -> honesty logs for the next training round",
        description="(--model DIR | --student-base-url URL --student-model NAME) --prompts FILE --output-dir DIR "
        "-> DIR/honesty_logs.jsonl (or --honesty-logs FILE), DIR/answers.jsonl, DIR/metrics.json. "
        "Then: rlwhf data gate DIR/honesty_logs.jsonl; rlwhf launch --dataset_path DIR/honesty_logs.jsonl.",
    )
    add_arguments(p, EvaluateConfig)
    p.set_defaults(group_parser=p, func=run)


def run(args) -> int:
    from rlwhf.errors import RlwhfError
    from rlwhf.evaluate.evaluation import EvaluateConfig, evaluate

    if args.answers:
        # Grading a file of answers is `rlwhf evaluate --answers F --honesty-logs L`; collect asks a student.
        raise RlwhfError("rlwhf collect asks a student (--model or --student-base-url with --prompts); to turn a "
                         "file of answers into logs use rlwhf evaluate --answers FILE --honesty-logs LOGS")
    cfg = from_namespace(EvaluateConfig, args)
    if not cfg.honesty_logs:
        cfg.honesty_logs = str(Path(cfg.output_dir) / "honesty_logs.jsonl")
    result = evaluate(cfg)
    logs = result["metrics"]["honesty_logs"]
    print(json.dumps({"honesty_logs": cfg.honesty_logs, "written": logs["written"], "answers": result["answers"],
                      "metrics": result["metrics_path"]}))
    errors = result["metrics"]["errors"]
    if errors:
        print(f"rlwhf: {errors} row(s) could not be answered or graded (verdict \"error\" in {result['answers']}); "
              "they are not in the honesty logs; a rerun retries their transport failures", file=sys.stderr)
        return 1
    return 0
