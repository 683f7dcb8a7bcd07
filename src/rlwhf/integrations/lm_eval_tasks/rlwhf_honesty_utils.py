"""lm-evaluation-harness glue: grade each generated answer on the honesty rubric (rlwhf's offline teacher)
and aggregate rlwhf's metrics. Referenced from the task YAMLs beside it (`!function rlwhf_honesty_utils.X`).

Any document layout rlwhf reads works (SimpleQA, TruthfulQA generation, abstention, rlwhf rows): the
columns are detected as `rlwhf evaluate --format auto` does.
"""

from __future__ import annotations

from rlwhf.evaluate.formats import detect, field_spec, to_row
from rlwhf.evaluate.metrics import compute_metrics
from rlwhf.data.schema import verdict_of
from rlwhf.evaluate.teachers import OfflineTeacher
from rlwhf.teacher.base import GradeRequest

_TEACHER = OfflineTeacher()


def grade(doc: dict, completion: str) -> tuple[int | None, str]:
    """(grade, verdict) of one completion for one benchmark document."""
    fmt = detect(list(doc))
    row = to_row("lm-eval doc", dict(doc), fmt, field_spec(fmt, {}), need_answer=False, benchmark=fmt)
    refs = row.get("references") or ([row["reference"]] if row.get("reference") else [])
    req = GradeRequest(row["prompt"], completion.strip(), row["reference"], row["answerable"], references=refs,
                       incorrect_answers=row.get("incorrect_answers") or [])
    res = _TEACHER.grade_many([req])[0]
    if res.grade is None:
        return None, "error"
    return res.grade, verdict_of(res.grade, row["answerable"], res.verdict)


def process_results(doc: dict, results: list[str]) -> dict:
    g, verdict = grade(doc, results[0])
    return {"accuracy": verdict == "correct", "hallucination_rate": verdict == "incorrect",
            "abstention_rate": verdict == "abstained", "grade": g if g is not None else 0,
            "accuracy_given_attempted": verdict, "simpleqa_f1": verdict, "truthfulness": verdict}


def _from_verdicts(name: str, verdicts: list[str]) -> float:
    value = compute_metrics([{"verdict": v} for v in verdicts]).get(name)
    return float("nan") if value is None else float(value)


def accuracy_given_attempted(verdicts: list[str]) -> float:
    return _from_verdicts("accuracy_given_attempted", verdicts)


def simpleqa_f1(verdicts: list[str]) -> float:
    return _from_verdicts("simpleqa_f1", verdicts)


def truthfulness(verdicts: list[str]) -> float:
    return _from_verdicts("truthfulness", verdicts)
