"""Transformer Lab tasks: the `lab` SDK of the `transformerlab` package (`pip install "rlwhf[tlab]"`).

Transformer Lab runs a task's `run` line with `_TFL_JOB_ID` / `_TFL_EXPERIMENT_ID` (and, locally,
`TFL_WORKSPACE_DIR`) in the environment; the task's parameters are in the job's data, read with
`lab.init()` + `lab.get_config()`. `run_job` is the one place our three tasks talk to it:

    lab.init()                    the job turns RUNNING
    lab.get_config()              the task's parameters (merged with what the user changed for this run)
    lab.update_progress(p, m)     the progress bar (0-100) and live metrics
    lab.log(msg)                  the job's log
    lab.save_artifact(...)        files (and, type="evals", the evaluation table) under the job
    lab.save_model(...)           a trained model folder under the job's models
    lab.finish(msg, score=...)    COMPLETE, with the summary line and the final numbers
    lab.error(msg)                FAILED, with the same one-line message our CLI prints

Outside Transformer Lab (no `_TFL_JOB_ID`) the entry points run as plain command-line tools.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from rlwhf.config import parse_value
from rlwhf.errors import RlwhfError

INSTALL = 'pip install "rlwhf[tlab]"'


def in_transformer_lab() -> bool:
    """True when a Transformer Lab job launched this process (its launcher sets _TFL_JOB_ID)."""
    return bool(os.environ.get("_TFL_JOB_ID"))


def lab_sdk():
    """The `lab` facade of the transformerlab package; RlwhfError with the install command when absent."""
    try:
        from lab import lab
    except ImportError as exc:
        raise RlwhfError(f"Transformer Lab started this job but its SDK is not importable ({exc}): {INSTALL}") \
            from None
    return lab


PARAM_TYPES = {"boolean": bool, "integer": int, "number": float, "string": str}  # JSON schema -> Python


def cast_params(params: dict, known: dict[str, str]) -> tuple[dict, list[str]]:
    """(parameters we know, cast from the strings a UI may send; names we do not know, sorted).

    `known` maps a name to its JSON-schema type: string, integer, number or boolean.

    >>> cast_params({"epochs": "3", "fast": "false", "x": 1}, {"epochs": "integer", "fast": "boolean"})
    ({'epochs': 3, 'fast': False}, ['x'])
    """
    out, unknown = {}, []
    for name, raw in params.items():
        if name not in known:
            unknown.append(name)
            continue
        if raw is None or raw == "":
            continue
        kind = known[name]
        try:
            if kind in ("integer", "number") and isinstance(raw, bool):
                raise ValueError(raw)  # True is an int to Python, not a number to a form
            if kind == "integer" and isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            out[name] = parse_value(raw if kind == "boolean" else str(raw), PARAM_TYPES.get(kind, str))
        except (TypeError, ValueError):
            raise RlwhfError(f"parameter {name}: {raw!r} is not a valid {kind}") from None
    return out, sorted(unknown)


def run_job(name: str, job: Callable[[dict, Any], tuple[str, dict]]) -> int:
    """Run `job(params, lab) -> (summary line, score dict)` as the current Transformer Lab job.

    The job reports its own progress and saves its outputs through `lab`; this wrapper starts the job,
    ends it with `lab.finish(summary, score=...)`, or with `lab.error(...)` carrying the message the CLI
    would print (also printed to stderr, without a traceback, for the job's log). Returns the exit code.
    """
    try:
        lab = lab_sdk()
    except RlwhfError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    lab.init()
    try:
        params = dict(lab.get_config() or {})
        summary, score = job(params, lab)
    except RlwhfError as exc:
        message = f"{name}: error: {exc}"
        print(message, file=sys.stderr)
        lab.error(message)
        return exc.exit_code
    except BaseException as exc:  # an unexpected failure still ends the job, then surfaces as usual
        lab.error(f"{name}: failed: {type(exc).__name__}: {exc}")
        raise
    print(f"{name}: {summary}")
    lab.finish(summary, score=score)
    return 0


def numbers(metrics: dict) -> dict:
    """The plain numbers of a metrics dict (what Transformer Lab can chart and rank), None dropped."""
    return {k: v for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}
