"""Reading evaluation inputs: prompt rows, answer rows, a baseline's graded rows, passages.

Lines are read by the data stage's lossless reader; a bad row stops the run naming its file, line
and the rule it broke (an evaluation that silently skipped rows would measure something else).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

from rlwhf.data.io import iter_objects
from rlwhf.data.schema import GRADE_VERDICT, source_names
from rlwhf.errors import RlwhfError

ANSWER_FIELDS = source_names("answer")  # the schema's one alias table
REFERENCE_FIELDS = source_names("reference")
VERDICTS = (*dict.fromkeys(GRADE_VERDICT.values()), "error")
# What an earlier evaluation added to a row: regrading an answers.jsonl starts from the answer alone.
STALE_FIELDS = ("grade", "verdict", "feedback", "status", "error", "context", "dpo_delta",
                "preferred_grade", "preferred_verdict", "preferred_feedback", "preferred_status", "preferred_error")


def _first(obj: dict, names: tuple[str, ...]):
    for name in names:
        if name in obj:
            return obj[name]
    return None


def read_rows(path: str | Path, need_answer: bool, limit: int | None = None) -> list[dict]:
    """Prompt rows (prompt, reference, answerable, metadata...) or, with `need_answer`, answer rows.

    Aliases: answer <- student_answer | response | completion; reference <- reference_answer | solution.
    A row without an id gets a stable one (a hash of its prompt). Grades from an earlier run are dropped.
    """
    rows = []
    for where, obj in iter_objects(path):
        prompt = obj.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise RlwhfError(f"{where}: 'prompt' must be a non-empty string")
        reference = _first(obj, REFERENCE_FIELDS)
        if reference is not None and not isinstance(reference, str):
            raise RlwhfError(f"{where}: 'reference' must be a string or null")
        answerable = obj.get("answerable")
        if answerable is not None and not isinstance(answerable, bool):
            raise RlwhfError(f"{where}: 'answerable' must be true, false or null")
        if obj.get("metadata") is not None and not isinstance(obj["metadata"], dict):
            raise RlwhfError(f"{where}: 'metadata' must be an object")
        row = {k: v for k, v in obj.items() if k not in ANSWER_FIELDS + REFERENCE_FIELDS}
        row.update(prompt=prompt, reference=reference, answerable=answerable)
        rid = row.get("id")
        row["id"] = str(rid) if rid not in (None, "") else hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]
        if need_answer:
            answer = _first(obj, ANSWER_FIELDS)
            if not isinstance(answer, str):
                raise RlwhfError(f"{where}: an answer row needs a string 'answer' (or completion/response)")
            row["answer"] = answer
        for stale in STALE_FIELDS:
            row.pop(stale, None)
        rows.append(row)
        if limit and len(rows) >= limit:
            break
    if not rows:
        raise RlwhfError(f"{path}: no rows")
    return rows


def read_graded(path: str | Path) -> list[dict]:
    """An earlier answers.jsonl (the baseline): every row needs a verdict."""
    rows = []
    for where, obj in iter_objects(path, "baseline row"):
        if obj.get("verdict") not in VERDICTS:
            raise RlwhfError(f"{where}: a baseline row needs a verdict (an answers.jsonl of rlwhf evaluate)")
        rows.append(obj)
    if not rows:
        raise RlwhfError(f"{path}: the baseline has no rows")
    return rows
