"""Reading evaluation inputs: prompt rows, answer rows, a baseline's graded rows, passages.

Lines are read by the data stage's lossless reader; a bad row stops the run naming its file, line
and the rule it broke (an evaluation that silently skipped rows would measure something else).
"""

from __future__ import annotations

from pathlib import Path

from rlwhf.data.io import iter_objects
from rlwhf.data.schema import GRADE_VERDICT
from rlwhf.errors import RlwhfError

VERDICTS = (*dict.fromkeys(GRADE_VERDICT.values()), "error")


def read_rows(path: str | Path, need_answer: bool, limit: int | None = None, fmt: str = "rlwhf",
              field_map: list[str] | dict | None = None, split: str | None = None) -> list[dict]:
    """Prompt rows (prompt, reference, answerable, metadata...) or, with `need_answer`, answer rows.

    Aliases: answer <- student_answer | response | completion; reference <- reference_answer | solution.
    A row without an id gets a stable one (a hash of its prompt). Grades from an earlier run are dropped.
    Other formats (SimpleQA, TruthfulQA, abstention, CSV / Parquet / saved datasets): `rlwhf.evaluate.formats`.
    """
    from rlwhf.evaluate.formats import read_benchmark

    return read_benchmark(path, fmt, field_map, need_answer=need_answer, limit=limit, split=split)[0]


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
