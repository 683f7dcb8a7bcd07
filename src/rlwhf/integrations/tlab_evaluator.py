"""Transformer Lab face of `rlwhf evaluate` (plugins/experimental/grok_search_evaluator/).

The task's parameters are EvaluateConfig's fields (so index.json is derived, and a test keeps it in sync)
plus `use_internet`: let the grading see the web. With an online teacher that is the server-side
`web_search` tool on the Responses API (xAI, OpenAI; rlwhf.teacher.web_search); with any teacher,
`search_corpus` adds the top BM25 passages of a local index. xAI's Live Search (`search_parameters`) is
retired (HTTP 410) and is never sent.

Inside Transformer Lab (`_TFL_JOB_ID` set) parameters come from `lab.get_config()`, the per-row grades
become the job's evaluation table (`lab.save_artifact(df, type="evals")`: input, output, expected_output,
score), answers.jsonl / metrics.json / the DPO files become job artifacts, and the job ends with
`lab.finish` (headline metrics as its score) or `lab.error` (see rlwhf.integrations.tlab).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path

from rlwhf.errors import RlwhfError
from rlwhf.evaluate.evaluation import EvaluateConfig

PLUGIN_INFO = {
    "name": "Grok Search Teacher Evaluator (rlwhf)",
    "uniqueId": "grok-search-evaluator",
    "description": "Grades a model's answers for honesty with a teacher (offline rubric judge, or Grok / any "
                   "OpenAI-compatible endpoint with optional search), writes answers.jsonl and honesty metrics, "
                   "and optionally DPO deltas and preference pairs.",
    "plugin-format": "python",
    "type": "evaluator",
    "version": "0.2.0",
    "files": ["main.py", "setup.sh", "info.md", "task.yaml"],
    "setup-script": "setup.sh",
    "supported_hardware_architectures": ["cpu", "cuda", "mlx", "amd"],
}
USE_INTERNET = {"title": "let grading see the web: the Responses API web_search tool for an online teacher "
                         "(xAI, OpenAI); the search_corpus passages (BM25) for any teacher",
                "type": "boolean", "default": False}
WEB_SEARCH_TEACHER = "rlwhf.teacher.web_search:WebSearchTeacher"
LAB_OUTPUT_DIR = "evaluation"  # inside a Transformer Lab job when output_dir is not given
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def parameters() -> dict:
    """index.json `parameters`: one entry per EvaluateConfig field, plus use_internet."""
    hints = typing.get_type_hints(EvaluateConfig)
    params = {}
    for f in dataclasses.fields(EvaluateConfig):
        tp = hints[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if args else tp
        entry = {"title": f.metadata.get("help", f.name), "type": _JSON_TYPES.get(tp, "string")}
        if f.default is not None and f.default is not dataclasses.MISSING:
            entry["default"] = f.default
        params[f.name] = entry
    params["use_internet"] = dict(USE_INTERNET)
    return params


def index_json() -> dict:
    return {**PLUGIN_INFO, "parameters": parameters()}


def _bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def config_from_params(params: dict) -> EvaluateConfig:
    """EvaluateConfig from plugin parameters (strings as Transformer Lab passes them, or typed values)."""
    from rlwhf.config import check

    spec = parameters()
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise RlwhfError(f"unknown plugin parameter(s): {', '.join(unknown)}")
    values = {}
    for name, raw in params.items():
        if raw is None or raw == "":
            continue
        kind = spec[name]["type"]
        try:
            values[name] = {"boolean": _bool, "integer": int, "number": float}.get(kind, str)(raw)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise RlwhfError(f"plugin parameter {name}: {exc}") from None
    if values.pop("use_internet", False):
        values = _with_internet(values)
    cfg = EvaluateConfig(**values)
    check(cfg)
    return cfg


def _with_internet(values: dict) -> dict:
    """use_internet: the server-side web_search tool for the online teacher; BM25 passages for any teacher."""
    teacher = values.get("teacher", "offline")
    try:
        extra = json.loads(values.get("request_extra") or "{}")
    except json.JSONDecodeError as exc:
        raise RlwhfError(f"request_extra is not JSON: {exc.msg}") from None
    if isinstance(extra, dict) and "search_parameters" in extra:
        raise RlwhfError("request_extra has search_parameters: xAI Live Search is retired (HTTP 410); "
                         "use_internet=true uses the web_search tool on the Responses API instead")
    if teacher == "openai":
        return {**values, "teacher": WEB_SEARCH_TEACHER}
    if not values.get("search_corpus"):
        raise RlwhfError(f"use_internet with the {teacher} teacher: server-side web search needs teacher=openai "
                         "at an endpoint with the Responses API (xAI https://api.x.ai/v1, OpenAI); for any teacher "
                         "give search_corpus, a JSONL of passages {id, text} searched locally (BM25)")
    return values  # the BM25 passages go to the teacher and into each row


def _lab_job(params: dict, lab) -> tuple[str, dict]:
    """One Transformer Lab job: evaluate, then the table, the files and the headline numbers."""
    from rlwhf.data.io import iter_objects
    from rlwhf.evaluate.evaluation import evaluate
    from rlwhf.integrations.tlab import cast_params, numbers

    known = parameters()
    values, ignored = cast_params(params, {k: v["type"] for k, v in known.items()})
    if ignored:
        lab.log(f"grok_search_evaluator: parameters not used here: {', '.join(ignored)}")
    values.setdefault("output_dir", LAB_OUTPUT_DIR)
    cfg = config_from_params(values)
    lab.update_progress(10)
    result = evaluate(cfg)
    metrics = result["metrics"]
    rows = [row for _, row in iter_objects(result["answers"])]
    graded = [r for r in rows if r.get("grade") is not None]
    if rows and not graded:  # nothing could be graded (a retired feature, a wrong endpoint, a bad key)
        first = next((r.get("error") for r in rows if r.get("error")), "no row could be graded")
        raise RlwhfError(f"no row could be graded; the first error: {first}")
    lab.update_progress(80, metrics=numbers(metrics))
    _save_table(lab, graded)
    out = Path(result["output_dir"])
    for name in ("answers.jsonl", "metrics.json", "dpo_scored.jsonl", "dpo_pairs.jsonl"):
        if (out / name).is_file():
            lab.save_artifact(str(out / name), name=name)
    score = {k: v for k, v in numbers(metrics).items() if k in HEADLINE}
    summary = (f"{len(rows)} rows graded by {metrics['teacher']['name']}: accuracy {_pct(metrics['accuracy'])}, "
               f"hallucination {_pct(metrics['hallucination_rate'])}, abstention {_pct(metrics['abstention_rate'])}")
    if metrics.get("errors"):
        summary += f"; {metrics['errors']} row(s) could not be graded (see answers.jsonl)"
    return summary, score


HEADLINE = ("n", "accuracy", "hallucination_rate", "abstention_rate", "truthfulness", "simpleqa_f1",
            "accuracy_given_attempted", "honesty_score", "errors")


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _save_table(lab, graded: list[dict]) -> None:
    """Per-row grades as Transformer Lab's evaluation table (input, output, expected_output, score)."""
    import pandas as pd

    table = pd.DataFrame([{"test_case_id": r.get("id"), "input": r["prompt"], "output": r.get("answer"),
                           "expected_output": r.get("reference") or "", "score": r["grade"],
                           "verdict": r.get("verdict"), "feedback": r.get("feedback")} for r in graded],
                         columns=["test_case_id", "input", "output", "expected_output", "score", "verdict",
                                  "feedback"])
    lab.save_artifact(table, name="honesty_grades.csv", type="evals")


def main(argv: list[str] | None = None) -> int:
    """Run the plugin: inside a Transformer Lab job from its config; elsewhere from `--name value` flags
    (flags it does not know, such as Transformer Lab's legacy --experiment_name, are reported and ignored)."""
    import sys

    from rlwhf.evaluate.evaluation import evaluate
    from rlwhf.integrations.tlab import in_transformer_lab, run_job
    from rlwhf.progress import configure_logging

    configure_logging(None)  # evaluate's progress lines reach the job's log, as under `rlwhf evaluate`
    if in_transformer_lab() and not argv:
        return run_job("grok_search_evaluator", _lab_job)
    known = parameters()
    try:
        parser = argparse.ArgumentParser(prog="grok_search_evaluator", description=PLUGIN_INFO["description"])
        for name in known:
            parser.add_argument(f"--{name}", default=None)
        args, ignored = parser.parse_known_args(argv)
        cfg = config_from_params({k: v for k, v in vars(args).items() if v is not None})
        result = evaluate(cfg)
    except RlwhfError as exc:
        print(f"grok_search_evaluator: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps({"answers": result["answers"], "metrics": result["metrics_path"], "ignored_args": ignored}))
    return 1 if result["metrics"]["errors"] else 0  # as `rlwhf evaluate`: 1 = some rows could not be graded
