"""Transformer Lab face of `rlwhf evaluate` (plugins/experimental/grok_search_evaluator/).

The plugin's parameters are EvaluateConfig's fields (so index.json is derived, and a test keeps it in
sync) plus `use_internet`: let the online teacher search the web itself. It adds xAI's Live Search
option `{"search_parameters": {"mode": "auto"}}` to each request unless `request_extra` says otherwise;
offline, search context comes from `search_corpus` (BM25) alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing

from rlwhf.errors import RlwhfError
from rlwhf.evaluate.runner import EvaluateConfig

PLUGIN_INFO = {
    "name": "Grok Search Teacher Evaluator (rlwhf)",
    "uniqueId": "grok-search-evaluator",
    "description": "Grades a model's answers for honesty with a teacher (offline rubric judge, or Grok / any "
                   "OpenAI-compatible endpoint with optional search), writes answers.jsonl and honesty metrics, "
                   "and optionally DPO deltas and preference pairs.",
    "plugin-format": "python",
    "type": "evaluator",
    "version": "0.2.0",
    "files": ["main.py", "setup.sh", "info.md"],
    "setup-script": "setup.sh",
    "supported_hardware_architectures": ["cpu", "cuda", "mlx", "amd"],
}
USE_INTERNET = {"title": "Use internet search (online teacher)", "type": "boolean", "default": False}
SEARCH_EXTRA = {"search_parameters": {"mode": "auto"}}
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
    use_internet = values.pop("use_internet", False)
    if use_internet:
        if values.get("teacher", "offline") == "offline":
            raise RlwhfError("use_internet needs an online teacher: set teacher to openai")
        extra = json.loads(values.get("request_extra") or "{}")
        values["request_extra"] = json.dumps({**SEARCH_EXTRA, **extra})
    cfg = EvaluateConfig(**values)
    check(cfg)
    return cfg


def _tlab_evals():
    """Transformer Lab's evaluator SDK object when running inside Transformer Lab, else None."""
    try:
        from transformerlab.sdk.v1.evals import tlab_evals
    except ImportError:
        return None
    return tlab_evals


def _report_to_tlab(tlab, result: dict) -> None:
    """Top-level numbers as logged metrics; per-row grades as the results table when pandas is there."""
    for key, value in result["metrics"].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            tlab.log_metric(key, value)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - Transformer Lab ships pandas
        return
    rows = [json.loads(line) for line in open(result["answers"], encoding="utf-8")]
    table = pd.DataFrame([{"test_case_id": r["id"], "metric_name": "honesty_grade", "score": r["grade"],
                           "input": r["prompt"], "output": r["answer"], "expected_output": r.get("reference")}
                          for r in rows if r.get("grade") is not None])
    tlab.save_evaluation_results(table)


def main(argv: list[str] | None = None) -> int:
    """Run the plugin. Inside Transformer Lab the parameters come from `tlab_evals.params` (fields it
    adds itself, such as experiment_name, are ignored); elsewhere from `--name value` flags."""
    import sys

    from rlwhf.evaluate.runner import evaluate

    tlab = _tlab_evals()
    known = parameters()
    try:
        if tlab is not None:
            params = {k: v for k, v in dict(tlab.params).items() if k in known}
            cfg = config_from_params(params)
            ignored = sorted(k for k in dict(tlab.params) if k not in known)

            @tlab.job_wrapper(manual_logging=True)
            def _job():
                tlab.progress_update(5)
                result = evaluate(cfg)
                _report_to_tlab(tlab, result)
                tlab.progress_update(100)
                return result

            result = _job()
        else:
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
