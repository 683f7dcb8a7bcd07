"""Teachers grade answers on the rubric behind one interface: `grade_many(requests) -> results`.

- `offline` (default): the rubric judge `rlwhf.reward.judge` against the references; no network.
- `openai`: any OpenAI-compatible chat-completions endpoint (xAI Grok, OpenAI, Ollama, vLLM), see
  `rlwhf.teacher.client`.

A dotted path `package.module:Class` names any other teacher (built with the EvaluateConfig).
"""

from __future__ import annotations

import importlib
from typing import Callable

from rlwhf.errors import RlwhfError
from rlwhf.teacher.base import GradeRequest, GradeResult, OnResult, checked


class OfflineTeacher:
    """The rubric judge (`rlwhf.reward.judge`): string matching against the reference, no network.

    Several acceptable references: the answer is judged against each and keeps its best grade. Known
    incorrect answers: an answer that matches one of them and none of the acceptable ones is incorrect
    (-2 stated plainly, -1 hedged), whatever the judge made of it without that knowledge. A request marked
    `closed_world` (the built-in corpus's held-out prompts) is judged in a closed world.
    """

    name = "offline"

    def __init__(self, judge: Callable | None = None):
        self._judge = judge
        self.model = "rlwhf.reward.judge"
        self.rubric_version = "rubric-judge"
        self.stats = {"graded": 0, "errors": 0}

    @classmethod
    def from_config(cls, cfg) -> "OfflineTeacher":
        return cls()

    def _get_judge(self) -> Callable:
        if self._judge is None:
            try:
                from rlwhf.reward import judge
            except ImportError as exc:
                raise RlwhfError(f"the offline teacher needs rlwhf.reward.judge, which is missing: {exc}") from None
            self._judge = judge
        return self._judge

    def grade_many(self, requests: list[GradeRequest], on_result: OnResult | None = None) -> list[GradeResult]:
        judge = self._get_judge()
        out = []
        for i, req in enumerate(requests):
            try:
                res = self._grade_one(judge, req)
                self.stats["graded"] += 1
            except (ValueError, TypeError, KeyError) as exc:
                # One odd row must not sink the run: it is kept, marked, and counted.
                res = GradeResult.failed(f"offline judge failed: {type(exc).__name__}: {exc}")
                self.stats["errors"] += 1
            out.append(res)
            if on_result:
                on_result(i, res)
        return out

    @staticmethod
    def _grade_one(judge: Callable, req: GradeRequest) -> GradeResult:
        # closed_world only when set, so any judge with rlwhf.reward.judge's older signature still fits
        extra = {"closed_world": True} if req.closed_world else {}
        refs = [r for r in req.references if r] or [req.reference]
        if req.answerable is False:
            refs = [req.reference]  # nobody can know: no reference makes an answer right
        best = None
        for ref in refs:
            j = judge(req.prompt, req.answer, reference=ref, answerable=req.answerable, **extra)
            if best is None or j.grade > best.grade:
                best = j
        if best.verdict != "correct" and req.answerable is not False:
            for wrong in req.incorrect_answers:
                j = judge(req.prompt, req.answer, reference=wrong, answerable=True)
                if j.verdict == "correct":  # the answer says what a known wrong answer says
                    grade = -2 if j.grade == 2 else -1
                    how = "stated plainly" if grade == -2 else "though hedged"
                    return checked(grade, "incorrect", f"Matches a known incorrect answer ({wrong!r}), {how}.")
        return checked(best.grade, best.verdict, best.feedback)

    def describe(self) -> dict:
        return {"name": self.name, "model": self.model, "rubric_version": self.rubric_version, **self.stats}

    def close(self) -> None:
        pass


def _offline(cfg) -> OfflineTeacher:
    return OfflineTeacher.from_config(cfg)


def _openai(cfg):
    from rlwhf.teacher.client import OnlineTeacher

    return OnlineTeacher.from_config(cfg)


TEACHERS: dict[str, Callable] = {"offline": _offline, "openai": _openai}


def make_teacher(cfg):
    """The teacher named by `cfg.teacher`: a registry name or `package.module:Class`."""
    name = cfg.teacher
    if name in TEACHERS:
        return TEACHERS[name](cfg)
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise RlwhfError(f"--teacher {name}: cannot import it ({exc})") from None
        return cls(cfg) if not hasattr(cls, "from_config") else cls.from_config(cfg)
    raise RlwhfError(f"--teacher {name}: unknown (choose {', '.join(TEACHERS)} or give package.module:Class)")
