"""DPO-aware deltas: grade the student's answer and the preferred answer on the same rubric.

dpo_delta = (grade(student) - grade(preferred)) / 4, bounded in [-1, 1]: both grades lie in -2..2, so
their difference lies in -4..4. -1 = the preferred answer is fully honest (+2) and the student fabricated
(-2); 0 = equally honest; > 0 = the student beat the "preferred" answer (worth a look at the data).

Pairs whose grades differ by at least `min_margin` are exported twice:
- `dpo_scored.jsonl`: canonical tuples (both answers, graded), the input of `rlwhf data pairs`;
- `dpo_pairs.jsonl`: ms-swift DPO rows {"messages": [user, assistant chosen], "rejected_response": ...}
  plus prompt/chosen/rejected/margin, built by the data stage's `dpo_row` (the same rows
  `rlwhf data pairs` writes). Identical answers make no pair.
"""

from __future__ import annotations

PREFERRED_FIELDS = ("preferred_answer", "chosen", "preferred")


def preferred_of(row: dict) -> str | None:
    """The row's preferred answer (`preferred_answer`, `chosen` or `preferred`), if any."""
    for name in PREFERRED_FIELDS:
        value = row.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def dpo_delta(student_grade: int, preferred_grade: int) -> float:
    """(student - preferred) / 4, in [-1, 1].

    >>> dpo_delta(-2, 2), dpo_delta(0, 2), dpo_delta(2, 2), dpo_delta(2, -2)
    (-1.0, -0.5, 0.0, 1.0)
    """
    return (student_grade - preferred_grade) / 4


def export_pairs(rows: list[dict], min_margin: int = 1) -> tuple[list[dict], list[dict]]:
    """(canonical scored rows, ms-swift DPO rows) from graded rows carrying `preferred_grade`."""
    from rlwhf.data.preprocess import dpo_row

    scored, swift = [], []
    for row in rows:
        s, p = row.get("grade"), row.get("preferred_grade")
        if s is None or p is None or abs(s - p) < min_margin or row["answer"] == row["preferred_answer"]:
            continue
        base = {"reference": row.get("reference"), "answerable": row.get("answerable")}
        meta = {**(row.get("metadata") or {}), "source": "rlwhf evaluate --enable-dpo-reward",
                "pair_of": row["id"]}
        student = {"id": f"{row['id']}:student", "prompt": row["prompt"], "answer": row["answer"],
                   "feedback": row.get("feedback") or "", "reward": s, **base,
                   "metadata": {**meta, "role": "student"}}
        preferred = {"id": f"{row['id']}:preferred", "prompt": row["prompt"], "answer": row["preferred_answer"],
                     "feedback": row.get("preferred_feedback") or "", "reward": p, **base,
                     "metadata": {**meta, "role": "preferred"}}
        scored += [student, preferred]
        chosen, rejected = (student, preferred) if s > p else (preferred, student)
        swift.append(dpo_row(row["prompt"], chosen, rejected))
    return scored, swift
