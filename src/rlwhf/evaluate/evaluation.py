"""`rlwhf evaluate`: policy answers -> teacher grades -> answers.jsonl + metrics.json.

Setup (read prompts or answers, baseline, search corpus), generate (unless --answers), grade,
measure, write. Every input row reaches answers.jsonl, graded or with verdict "error" and its reason.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from rlwhf.data.io import write_json, write_jsonl
from rlwhf.data.schema import is_closed_world, verdict_of
from rlwhf.errors import RlwhfError
from rlwhf.evaluate.dpo import dpo_delta, export_pairs, preferred_of
from rlwhf.evaluate.metrics import compute_metrics
from rlwhf.evaluate.rows import read_graded, read_rows
from rlwhf.evaluate.teachers import make_teacher
from rlwhf.progress import Tracker
from rlwhf.teacher.base import GradeRequest


@dataclass
class EvaluateConfig:
    """What `rlwhf evaluate` does; its flags and the plugin's parameters are derived from these fields."""

    output_dir: str | None = field(default=None, metadata={"help": "where answers.jsonl and metrics.json go"})
    model: str | None = field(default=None, metadata={
        "help": "policy folder to generate answers with, greedy (needs --prompts; vLLM when installed on a GPU)"})
    student_base_url: str | None = field(default=None, metadata={
        "help": "a served student instead: any OpenAI-compatible chat server (…/v1: vLLM, Ollama, llama.cpp, "
                "swift deploy, hosted APIs); needs --student-model and --prompts"})
    student_model: str | None = field(default=None, metadata={"help": "the served student's model name"})
    student_api_key_env: str | None = field(default=None, metadata={
        "help": "NAME of the environment variable holding the student server's key (default: --api-key-env "
                "when the teacher is offline; a loopback server needs none)"})
    prompts: str | None = field(default=None, metadata={
        "help": "questions: JSONL / CSV / Parquet / a saved HF dataset folder, in any --format"})
    answers: str | None = field(default=None, metadata={"help": "answer rows to grade without generating (any --format)"})
    format: str = field(default="auto", metadata={
        "help": "input format; auto detects it from the columns", "choices": ["auto", "rlwhf", "simpleqa",
                                                                              "simpleqa_verified", "truthfulqa",
                                                                              "abstention"]})
    field_map: list[str] | None = field(default=None, metadata={
        "help": "FIELD=COLUMN renames (fields: prompt reference references incorrect_answers answerable "
                "should_abstain answer id metadata)", "flag": "--map"})
    split: str | None = field(default=None, metadata={"help": "split of a saved dataset folder with several"})
    system_prompt: str | None = field(default=None, metadata={
        "help": "a system turn before every question (local and served students alike)"})
    temperature: float = field(default=0.0, metadata={"help": "served student sampling temperature (0 = greedy)"})
    top_p: float | None = field(default=None, metadata={"help": "served student nucleus sampling (sent only if set)"})
    n_samples: int = field(default=1, metadata={
        "help": "answers per prompt from a served student (the request's n, topped up when a server ignores it)"})
    seed: int | None = field(default=None, metadata={"help": "sampling seed, sent to servers that take one"})
    honesty_logs: str | None = field(default=None, metadata={
        "help": "also write the graded answers as honesty logs (prompt, answer, feedback, reward, reference, "
                "answerable, metadata) for `rlwhf data gate` / `rlwhf launch --dataset_path`"})
    teacher: str = field(default="offline", metadata={
        "help": "offline (rubric judge, no network), openai (any OpenAI-compatible endpoint) or package.module:Class"})
    base_url: str = field(default="https://api.x.ai/v1", metadata={"help": "online teacher endpoint (…/v1)"})
    teacher_model: str = field(default="grok-4", metadata={"help": "online teacher model name"})
    api_key_env: str = field(default="XAI_API_KEY", metadata={
        "help": "NAME of the environment variable holding the API key (the key itself is never a flag)"})
    baseline: str | None = field(default=None, metadata={
        "help": "answers.jsonl of an earlier evaluation of the same prompts (adds prudence, honesty score)"})
    batch_size: int = field(default=64, metadata={"help": "generation batch size"})
    max_new_tokens: int = field(default=32, metadata={"help": "generation length limit"})
    threads: int | None = field(default=None, metadata={
        "help": "torch threads while generating (default: 1 for a policy under 50M parameters on CPU, "
                "where more threads only contend, else torch's setting)"})
    limit: int | None = field(default=None, metadata={"help": "evaluate only the first N rows"})
    search_corpus: str | None = field(default=None, metadata={
        "help": "JSONL of passages {id, text}: BM25 top passages go to the teacher and into each row"})
    search_top_k: int = field(default=3, metadata={"help": "passages per question"})
    enable_dpo_reward: bool = field(default=False, metadata={
        "help": "also grade each row's preferred answer, add dpo_delta = (student - preferred) / 4, export pairs"})
    min_margin: int = field(default=1, metadata={"help": "smallest grade gap for an exported DPO pair"})
    rubric: str = field(default="honesty_rubric_v1", metadata={
        "help": "online teacher prompt: a name under configs/prompts/ or a file"})
    cache: str | None = field(default=None, metadata={
        "help": "SQLite cache of online grades (default $RLWHF_CACHE_DIR/teacher_cache.sqlite)"})
    concurrency: int = field(default=4, metadata={"help": "online requests in flight at most"})
    timeout: float = field(default=60.0, metadata={"help": "seconds before an online request counts as failed"})
    max_retries: int = field(default=5, metadata={"help": "retries per request (timeouts, 429, 5xx)"})
    backoff_base: float = field(default=1.0, metadata={"help": "first retry delay in seconds (doubles, + jitter)"})
    backoff_max: float = field(default=30.0, metadata={"help": "longest retry delay, Retry-After included"})
    request_extra: str | None = field(default=None, metadata={
        "help": "JSON object merged into each online request body (e.g. a provider's search options)"})

    def _check_inputs(self) -> None:
        students = [s for s in (self.model, self.student_base_url) if s]
        if self.answers and (students or self.prompts):
            raise RlwhfError("give either a student (--model or --student-base-url) with --prompts, or --answers, "
                             "not both")
        if len(students) > 1:
            raise RlwhfError("give one student: --model DIR or --student-base-url URL, not both")
        if not self.answers and not (students and self.prompts):
            raise RlwhfError("give --model DIR (or --student-base-url URL --student-model NAME) with --prompts FILE, "
                             "or --answers FILE")
        if self.student_base_url and not self.student_model:
            raise RlwhfError("--student-base-url needs --student-model NAME (the name the server serves)")
        if not self.output_dir:
            raise RlwhfError("--output-dir is required")

    def _check_sampling(self) -> None:
        if self.n_samples < 1:
            raise RlwhfError("--n-samples must be at least 1")
        if self.temperature < 0 or (self.top_p is not None and not 0 < self.top_p <= 1):
            raise RlwhfError("--temperature must not be negative and --top-p must lie in (0, 1]")
        if self.model and (self.n_samples > 1 or self.temperature > 0 or self.top_p is not None):
            raise RlwhfError("local generation (--model) is greedy: --n-samples, --temperature and --top-p apply to "
                             "a served student (--student-base-url)")

    def _check_numbers(self) -> None:
        for name in ("batch_size", "max_new_tokens", "search_top_k", "concurrency"):
            if getattr(self, name) < 1:
                raise RlwhfError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("limit", "threads"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise RlwhfError(f"--{name} must be at least 1")
        if self.timeout <= 0 or self.backoff_base < 0 or self.backoff_max < 0 or self.max_retries < 0:
            raise RlwhfError("--timeout must be positive; --backoff-base, --backoff-max, --max-retries not negative")
        if not 1 <= self.min_margin <= 4:
            raise RlwhfError("--min-margin must lie in 1..4 (grades span -2..2)")

    def _check_request_extra(self) -> None:
        self.request_extra_dict()

    def request_extra_dict(self) -> dict:
        if not self.request_extra:
            return {}
        try:
            extra = json.loads(self.request_extra)
        except json.JSONDecodeError as exc:
            raise RlwhfError(f"--request-extra is not JSON: {exc.msg}") from None
        if not isinstance(extra, dict):
            raise RlwhfError("--request-extra must be a JSON object")
        return extra


def _apply(row: dict, res, prefix: str = "") -> None:
    """Copy a teacher result onto the row.

    No answer to an unanswerable question is "correct" (docs/design.md); the rubric judge's rule applies to
    every teacher: there a grade >= 0 (saying nobody can know) is "abstained", < 0 "incorrect".
    """
    verdict = verdict_of(res.grade, row.get("answerable"), res.verdict)
    row[prefix + "grade"] = res.grade
    row[prefix + "verdict"] = verdict
    row[prefix + "feedback"] = res.feedback
    if res.status == "error":
        row[prefix + "status"] = "error"
        row[prefix + "error"] = res.error


def _log(msg: str) -> None:
    logging.getLogger("rlwhf.evaluate").info(f"[rlwhf evaluate] {msg}")


def evaluate(cfg: EvaluateConfig) -> dict:
    """Run one evaluation; returns {"output_dir", "answers", "metrics_path", "metrics"}."""
    started = time.perf_counter()
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Setup: every input is read and checked, and the teacher built, before the slow parts.
    baseline = read_graded(cfg.baseline) if cfg.baseline else None
    rows = read_rows(cfg.answers or cfg.prompts, need_answer=bool(cfg.answers), limit=cfg.limit, fmt=cfg.format,
                     field_map=cfg.field_map, split=cfg.split)
    index = None
    if cfg.search_corpus:
        from rlwhf.teacher.search import BM25Index

        index = BM25Index.from_jsonl(cfg.search_corpus)
    teacher = make_teacher(cfg)  # a missing API key fails here, not after a generation pass
    student = None
    if cfg.student_base_url:
        from rlwhf.evaluate.student import ServedStudent

        student = ServedStudent.from_config(cfg)
    timings: dict = {}
    try:
        if cfg.model:
            timings["generation"] = _generate(cfg, rows)
        elif student is not None:
            rows, timings["generation"] = _ask_served(student, rows)
        if index is not None:
            for row in rows:
                row["context"] = index.search(row["prompt"], k=cfg.search_top_k)
        dpo_rows = [r for r in rows if preferred_of(r) is not None] if cfg.enable_dpo_reward else []
        t0 = time.perf_counter()
        _grade(teacher, rows, dpo_rows)
        timings["grading_seconds"] = round(time.perf_counter() - t0, 3)
        teacher_info = teacher.describe()
    finally:
        teacher.close()

    metrics = compute_metrics(rows, baseline)
    metrics["teacher"] = teacher_info
    if student is not None:
        metrics["student"] = student.describe()
    if cfg.enable_dpo_reward:
        scored, swift = export_pairs(dpo_rows, cfg.min_margin)
        deltas = [r["dpo_delta"] for r in dpo_rows if "dpo_delta" in r]
        metrics["dpo"] = {"rows_with_preferred": len(dpo_rows), "graded_pairs": len(deltas),
                          "mean_delta": sum(deltas) / len(deltas) if deltas else None,
                          "exported_pairs": len(swift), "min_margin": cfg.min_margin}
        write_jsonl(out / "dpo_scored.jsonl", scored)
        write_jsonl(out / "dpo_pairs.jsonl", swift)
    timings["total_seconds"] = round(time.perf_counter() - started, 3)
    metrics["timings"] = timings
    metrics["source"] = {"model": cfg.model, "student_base_url": cfg.student_base_url,
                         "student_model": cfg.student_model, "prompts": cfg.prompts, "answers": cfg.answers,
                         "format": cfg.format, "baseline": cfg.baseline, "search_corpus": cfg.search_corpus}
    logs_summary = None
    if cfg.honesty_logs:
        from rlwhf.evaluate.collect import honesty_logs

        logs, logs_summary = honesty_logs(rows, student=cfg.student_model or cfg.model, teacher=teacher_info)
        write_jsonl(cfg.honesty_logs, logs)
        metrics["honesty_logs"] = {"path": str(cfg.honesty_logs), **logs_summary}

    write_jsonl(out / "answers.jsonl", rows)
    write_json(out / "metrics.json", metrics)
    _log(f"{len(rows)} rows: accuracy {_pct(metrics['accuracy'])}, hallucination {_pct(metrics['hallucination_rate'])}, "
         f"abstention {_pct(metrics['abstention_rate'])}, {metrics['errors']} error row(s) -> {out}")
    if logs_summary is not None:
        _log(f"{logs_summary['written']} honesty log row(s) -> {cfg.honesty_logs} ({logs_summary['error_rows']} error "
             f"row(s) left out, {logs_summary['duplicates_merged']} repeated answer(s) merged)")
    return {"output_dir": str(out), "answers": str(out / "answers.jsonl"), "metrics_path": str(out / "metrics.json"),
            "metrics": metrics, "honesty_logs": cfg.honesty_logs}


def _generate(cfg: EvaluateConfig, rows: list[dict]) -> dict:
    """Fill each row's `answer` with the policy's greedy answer; returns the generation stats."""
    from rlwhf.evaluate.generate import generate_answers, generate_vllm, vllm_available

    stats: dict = {}
    prompts = [r["prompt"] for r in rows]
    if vllm_available():  # pragma: no cover - GPU machines with vLLM
        answers = generate_vllm(cfg.model, prompts, cfg.max_new_tokens, cfg.system_prompt, stats=stats)
    else:
        answers = generate_answers(cfg.model, prompts, batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens,
                                   stats=stats, threads=cfg.threads, system_prompt=cfg.system_prompt)
    for row, answer in zip(rows, answers):
        row["answer"] = answer
    _log(f"generated {len(rows)} answers in {stats['seconds']:.1f} s")
    return stats


def _ask_served(student, rows: list[dict]) -> tuple[list[dict], dict]:
    """Each row's answer(s) from the served student; with n > 1 a row per sample (id `ID#k`, `sample` k).
    A failed or empty answer keeps its row, with verdict "error" and the reason."""
    stats: dict = {}
    per_prompt = student.answer_many([r["prompt"] for r in rows], stats=stats)
    out = []
    for row, samples in zip(rows, per_prompt):
        for k, sample in enumerate(samples):
            r = dict(row) if len(samples) == 1 else {**row, "id": f"{row['id']}#{k}", "sample": k}
            r["answer"] = sample.answer if sample.answer is not None else ""
            if sample.error:
                r.update(grade=None, verdict="error", feedback="", status="error", error=sample.error)
            out.append(r)
    _log(f"the served student gave {stats['samples']} answers to {stats['prompts']} prompts in {stats['seconds']:.1f} s"
         + (f" ({stats['errors']} failed)" if stats["errors"] else ""))
    return out, stats


def _grade(teacher, rows: list[dict], dpo_rows: list[dict]) -> None:
    """One teacher call for the students' answers and (DPO) the preferred ones; results onto the rows.
    Rows the student could not answer keep their error and are not graded."""
    def request(row: dict, answer: str) -> GradeRequest:
        return GradeRequest(row["prompt"], answer, row["reference"], row["answerable"], row.get("context") or [],
                            closed_world=is_closed_world(row), references=row.get("references") or [],
                            incorrect_answers=row.get("incorrect_answers") or [])

    rows = [r for r in rows if r.get("status") != "error"]
    dpo_rows = [r for r in dpo_rows if r.get("status") != "error"]
    for row in dpo_rows:
        row["preferred_answer"] = preferred_of(row)
    requests = [request(r, r["answer"]) for r in rows] + [request(r, r["preferred_answer"]) for r in dpo_rows]
    results = []
    if requests:  # a bar on a terminal; elsewhere a log line every quarter (online grading can take minutes)
        with Tracker(len(requests), "graded", "row", log=_log, marks=4, bar_desc="grade") as steps:
            results = teacher.grade_many(requests, on_result=lambda _i, _res: steps.update())
    for row, res in zip(rows, results[:len(rows)]):
        _apply(row, res)
    for row, res in zip(dpo_rows, results[len(rows):]):
        _apply(row, res, prefix="preferred_")
        if row.get("grade") is not None and row.get("preferred_grade") is not None:
            row["dpo_delta"] = dpo_delta(row["grade"], row["preferred_grade"])


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"
