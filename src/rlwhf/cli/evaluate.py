"""`rlwhf evaluate`: grade a policy's (or a file's) answers and write answers.jsonl + metrics.json.

Exit 0: every row graded; 1: some rows ended with verdict "error" (all outputs still written); 2: usage.
"""

from __future__ import annotations

import json
import sys

from rlwhf.config import add_arguments, from_namespace
from rlwhf.errors import RlwhfError


def register(sub):
    from rlwhf.evaluate.evaluation import EvaluateConfig

    p = sub.add_parser(
        "evaluate",
        help="grade answers with a teacher and write honesty metrics",
        description="(--model DIR --prompts FILE | --answers FILE) --output-dir DIR -> DIR/answers.jsonl, "
        "DIR/metrics.json; or --compare A/metrics.json B/metrics.json for a side-by-side table.",
    )
    add_arguments(p, EvaluateConfig)
    p.add_argument("--compare", nargs="+", metavar="METRICS_JSON",
                   help="print a table of metrics.json files (a launch report.json counts as before + after) "
                   "side by side, then exit")
    p.set_defaults(group_parser=p, func=run)


def _columns(paths: list[str]) -> list[tuple[str, dict]]:
    """(label, metrics) per metrics.json; a launch report.json gives two columns, before and after."""
    from pathlib import Path

    columns = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                obj = json.load(fh)
        except OSError as exc:
            raise RlwhfError(f"{path}: cannot read ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise RlwhfError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        p = Path(path)
        name = p.parent.name if p.name in ("metrics.json", "report.json") and p.parent.name else p.stem
        if isinstance(obj, dict) and isinstance(obj.get("before"), dict) and isinstance(obj.get("after"), dict):
            columns += [(f"{name}:before", obj["before"]), (f"{name}:after", obj["after"])]
        elif isinstance(obj, dict) and "n" in obj:
            columns.append((name, obj))
        else:
            raise RlwhfError(f"{path}: not a metrics.json (no 'n' key) nor a report.json (before/after)")
    labels = [label for label, _ in columns]
    if len(set(labels)) < len(labels):  # same folder names: fall back to numbering the columns
        columns = [(f"{i + 1}:{label}", m) for i, (label, m) in enumerate(columns)]
    return columns


def run(args) -> int:
    from rlwhf.evaluate.metrics import compare_table
    from rlwhf.evaluate.evaluation import EvaluateConfig, evaluate

    if args.compare:
        columns = _columns(args.compare)
        if len(columns) < 2:
            raise RlwhfError("--compare needs at least two metrics.json files (or a report.json)")
        print(compare_table(columns))
        return 0
    cfg = from_namespace(EvaluateConfig, args)
    result = evaluate(cfg)
    print(json.dumps({"answers": result["answers"], "metrics": result["metrics_path"]}))
    errors = result["metrics"]["errors"]
    if errors:
        # Like `data gate`: 1 = findings. The rows are written, marked, and left out of every ratio.
        print(f"rlwhf: {errors} row(s) could not be graded (verdict \"error\" in {result['answers']}); "
              "a rerun retries their transport failures", file=sys.stderr)
        return 1
    return 0
