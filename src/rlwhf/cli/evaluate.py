"""`rlwhf evaluate`: grade a policy's (or a file's) answers and write answers.jsonl + metrics.json."""

from __future__ import annotations

import json

from rlwhf.config import add_arguments, from_namespace
from rlwhf.errors import RlwhfError


def register(sub):
    from rlwhf.evaluate.runner import EvaluateConfig

    p = sub.add_parser(
        "evaluate",
        help="grade answers with a teacher and write honesty metrics",
        description="(--model DIR --prompts FILE | --answers FILE) --output-dir DIR -> DIR/answers.jsonl, "
        "DIR/metrics.json; or --compare A/metrics.json B/metrics.json for a side-by-side table.",
    )
    add_arguments(p, EvaluateConfig)
    p.add_argument("--compare", nargs="+", metavar="METRICS_JSON",
                   help="print a table of two or more metrics.json files side by side, then exit")
    p.set_defaults(group_parser=p, func=run)


def _load_metrics(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            obj = json.load(fh)
    except OSError as exc:
        raise RlwhfError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise RlwhfError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(obj, dict) or "n" not in obj:
        raise RlwhfError(f"{path}: not a metrics.json (no 'n' key)")
    return obj


def _label(path: str, others: list[str]) -> str:
    from pathlib import Path

    p = Path(path)
    name = p.parent.name if p.name == "metrics.json" and p.parent.name else p.stem
    return name if sum(1 for o in others if o == path) == 1 else str(p)


def run(args) -> int:
    from rlwhf.evaluate.metrics import compare_table
    from rlwhf.evaluate.runner import EvaluateConfig, evaluate

    if args.compare:
        if len(args.compare) < 2:
            raise RlwhfError("--compare needs at least two metrics.json files")
        labels = [_label(p, args.compare) for p in args.compare]
        if len(set(labels)) < len(labels):
            labels = list(args.compare)
        print(compare_table([(lab, _load_metrics(p)) for lab, p in zip(labels, args.compare)]))
        return 0
    cfg = from_namespace(EvaluateConfig, args)
    result = evaluate(cfg)
    print(json.dumps({"answers": result["answers"], "metrics": result["metrics_path"]}))
    return 0
