"""Graded answers -> honesty logs: the loop's data source (student answers -> teacher grades -> training rows).

Each graded row becomes one canonical tuple (DESIGN.md): `rlwhf data gate` accepts it as it is and
`rlwhf launch --dataset_path` trains on it. Rows the student or the teacher could not finish (verdict
"error") carry no grade, so they are left out, and counted; the same (prompt, answer) twice (greedy
samples, a benchmark that repeats a question) is written once, and counted, because the gate would
otherwise quarantine the repeat as a duplicate.
"""

from __future__ import annotations

from rlwhf.data.schema import stable_id


def honesty_logs(rows: list[dict], student: str | None = None, teacher: dict | None = None) -> tuple[list[dict], dict]:
    """(log rows, {"written", "error_rows", "empty_answers", "duplicates_merged"}) from graded evaluation rows.

    >>> logs, summary = honesty_logs([{"id": "q1", "prompt": "2+2?", "answer": "4", "grade": 2, "verdict": "correct",
    ...                                "feedback": "Right.", "reference": "4", "answerable": True}])
    >>> logs[0]["reward"], summary["written"]
    (2, 1)
    """
    teacher = teacher or {}
    seen: set[tuple[str, str]] = set()
    out = []
    errors = duplicates = empty = 0
    for row in rows:
        if row.get("grade") is None or row.get("verdict") == "error":
            errors += 1
            continue
        if not str(row.get("answer") or "").strip():  # graded -2 as degenerate, but the gate needs an answer
            empty += 1
            continue
        key = (row["prompt"], row["answer"])
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        meta = dict(row.get("metadata") or {})
        meta.update({k: v for k, v in {
            "source_id": row.get("id"),
            "sample": row.get("sample"),
            "verdict": row["verdict"],
            "student": student,
            "teacher": teacher.get("model") or teacher.get("name"),
            "rubric_version": teacher.get("rubric_version"),
            "references": row.get("references"),
            "incorrect_answers": row.get("incorrect_answers"),
        }.items() if v is not None})
        feedback = row.get("feedback") or ""
        out.append({
            "id": stable_id(row["prompt"], row["answer"], feedback, row["grade"], row.get("reference"),
                            row.get("answerable")),
            "prompt": row["prompt"],
            "answer": row["answer"],
            "feedback": feedback,
            "reward": row["grade"],
            "reference": row.get("reference"),
            "answerable": row.get("answerable"),
            "metadata": meta,
        })
    return out, {"written": len(out), "error_rows": errors, "empty_answers": empty, "duplicates_merged": duplicates}
