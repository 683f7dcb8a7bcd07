"""Inspect (`inspect_ai`) face of the honesty evaluation: a scorer that grades with the honesty rubric and
metrics that are rlwhf's own (accuracy, hallucination and abstention rates, SimpleQA's accuracy given
attempted and F1, truthfulness), plus a task that runs any benchmark file rlwhf reads.

    pip install 'rlwhf[inspect]'
    inspect eval src/rlwhf/integrations/inspect.py@honesty_benchmark -T path=simpleqa.csv --model openai/gpt-4o-mini

or from Python: `inspect_ai.eval(honesty_benchmark("truthfulqa.csv"), model="vllm/...")`. The scorer works in
any Inspect task whose samples carry the reference(s) as `target`, and optionally `answerable` and
`incorrect_answers` in their metadata.

Each score's value is the rubric grade (-2..2); its metadata holds the verdict (correct | incorrect |
abstained) that the metrics count. A row the teacher could not grade is `Score.unscored` (left out of every
metric, as `errors` rows are in metrics.json).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from rlwhf.errors import require

require("inspect_ai", "inspect")

from inspect_ai import Task, task  # noqa: E402
from inspect_ai.dataset import MemoryDataset, Sample  # noqa: E402
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, mean, metric, scorer  # noqa: E402
from inspect_ai.solver import TaskState, generate, system_message  # noqa: E402

from rlwhf.evaluate.metrics import compute_metrics  # noqa: E402
from rlwhf.data.schema import verdict_of  # noqa: E402
from rlwhf.evaluate.teachers import make_teacher  # noqa: E402
from rlwhf.teacher.base import GradeRequest  # noqa: E402

METRIC_NAMES = ("accuracy", "hallucination_rate", "abstention_rate", "accuracy_given_attempted", "simpleqa_f1",
                "truthfulness")


def _rows(scores: list[SampleScore]) -> list[dict]:
    rows = []
    for item in scores:
        meta = item.score.metadata or {}
        value = item.score.value
        if meta.get("verdict") in ("correct", "incorrect", "abstained") and not (
                isinstance(value, float) and math.isnan(value)):
            rows.append({"verdict": meta["verdict"], "answerable": meta.get("answerable")})
    return rows


def _honesty_metric(name: str) -> Metric:
    def compute(scores: list[SampleScore]) -> float:
        value = compute_metrics(_rows(scores)).get(name)
        return float("nan") if value is None else float(value)  # undefined (nothing attempted) stays undefined

    return compute


# One registered Inspect metric per rlwhf metric (metrics.json's names and definitions).
@metric
def accuracy() -> Metric:
    """correct / graded."""
    return _honesty_metric("accuracy")


@metric
def hallucination_rate() -> Metric:
    """incorrect / graded."""
    return _honesty_metric("hallucination_rate")


@metric
def abstention_rate() -> Metric:
    """abstained (not attempted) / graded."""
    return _honesty_metric("abstention_rate")


@metric
def accuracy_given_attempted() -> Metric:
    """correct / (correct + incorrect), SimpleQA's."""
    return _honesty_metric("accuracy_given_attempted")


@metric
def simpleqa_f1() -> Metric:
    """Harmonic mean of accuracy and accuracy given attempted."""
    return _honesty_metric("simpleqa_f1")


@metric
def truthfulness() -> Metric:
    """accuracy - hallucination rate (TruthRL)."""
    return _honesty_metric("truthfulness")


def _teacher_config(teacher: str, base_url: str | None, teacher_model: str | None, api_key_env: str | None,
                    rubric: str | None):
    from rlwhf.evaluate.evaluation import EvaluateConfig

    cfg = EvaluateConfig(teacher=teacher)
    for name, value in (("base_url", base_url), ("teacher_model", teacher_model), ("api_key_env", api_key_env),
                        ("rubric", rubric)):
        if value is not None:
            setattr(cfg, name, value)
    return cfg


@scorer(metrics=[accuracy(), hallucination_rate(), abstention_rate(), accuracy_given_attempted(), simpleqa_f1(),
                 truthfulness(), mean()])
def honesty(teacher: str = "offline", base_url: str | None = None, teacher_model: str | None = None,
            api_key_env: str | None = None, rubric: str | None = None) -> Scorer:
    """Grade each answer on the honesty rubric (-2..2) with an rlwhf teacher.

    `teacher`: "offline" (the rubric judge, no network), "openai" (any OpenAI-compatible endpoint: `base_url`,
    `teacher_model`, `api_key_env`) or `package.module:Class`. Every target is an acceptable reference;
    `metadata["incorrect_answers"]` are known wrong answers; `metadata["answerable"] = False` marks a question
    nobody can answer (abstaining is then the honest answer).
    """
    grader = make_teacher(_teacher_config(teacher, base_url, teacher_model, api_key_env, rubric))

    async def score(state: TaskState, target: Target) -> Score:
        meta = state.metadata or {}
        refs = [t for t in target.target if t]
        answerable = meta.get("answerable")
        answer = state.output.completion or ""
        req = GradeRequest(state.input_text, answer, refs[0] if refs else None, answerable,
                           references=refs, incorrect_answers=list(meta.get("incorrect_answers") or []))
        res = (await asyncio.to_thread(grader.grade_many, [req]))[0]
        if res.status == "error" or res.grade is None:
            return Score.unscored(reason=res.error, answer=answer, metadata={"verdict": "error", "error": res.error})
        verdict = verdict_of(res.grade, answerable, res.verdict)
        return Score(value=res.grade, answer=answer, explanation=res.feedback,
                     metadata={"verdict": verdict, "answerable": answerable, "grade": res.grade})

    return score


def samples(path: str, format: str = "auto", field_map: list[str] | str | None = None, split: str | None = None,
            limit: int | None = None) -> list[Sample]:
    """Inspect samples from any benchmark file rlwhf reads (`rlwhf.evaluate.formats`)."""
    from rlwhf.evaluate.formats import read_benchmark

    rows, _ = read_benchmark(path, format, field_map, limit=limit, split=split)
    out, seen = [], set()
    for row in rows:
        refs = row.get("references") or ([row["reference"]] if row.get("reference") else [])
        sid = row["id"]
        while sid in seen:  # Inspect needs unique ids; a benchmark may ask the same question twice
            sid += "+"
        seen.add(sid)
        meta: dict[str, Any] = {"answerable": row.get("answerable"),
                                "incorrect_answers": row.get("incorrect_answers") or [],
                                "benchmark": (row.get("metadata") or {}).get("benchmark")}
        out.append(Sample(input=row["prompt"], target=refs, id=sid, metadata=meta))
    return out


@task
def honesty_benchmark(path: str, format: str = "auto", field_map: str | None = None, split: str | None = None,
                      limit: int | None = None, system_prompt: str | None = None, teacher: str = "offline",
                      base_url: str | None = None, teacher_model: str | None = None,
                      api_key_env: str | None = None) -> Task:
    """Ask the model every question of `path` (SimpleQA, TruthfulQA, abstention, or any table with
    `field_map` "prompt=COL,reference=COL") and grade the answers with `honesty(teacher=...)`."""
    solver = ([system_message(system_prompt)] if system_prompt else []) + [generate()]
    return Task(dataset=MemoryDataset(samples(path, format, field_map, split, limit), name=str(path)),
                solver=solver,
                scorer=honesty(teacher=teacher, base_url=base_url, teacher_model=teacher_model,
                               api_key_env=api_key_env))
