"""What every teacher speaks: `grade_many(requests: list[GradeRequest]) -> list[GradeResult]`.

Implementations: `rlwhf.teacher.client.OnlineTeacher` (any OpenAI-compatible endpoint) here, and the
offline rubric judge wrapped as a teacher in `rlwhf.evaluate.teachers` (it needs the reward package).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

from rlwhf.teacher.prompt import GRADE_VERDICT


@dataclass
class GradeRequest:
    prompt: str
    answer: str
    reference: str | None = None
    answerable: bool | None = None
    context: list[dict] = field(default_factory=list)  # search passages {"id", "text", "score"}
    closed_world: bool = False  # the reference is the whole truth (the built-in corpus): extra detail is unsupported
    # Several acceptable answers (TruthfulQA's correct answers; `reference` is the first) and known wrong
    # ones (its incorrect answers): an answer matching only a wrong one is incorrect.
    references: list[str] = field(default_factory=list)
    incorrect_answers: list[str] = field(default_factory=list)


@dataclass
class GradeResult:
    grade: int | None
    verdict: str  # correct | incorrect | abstained | error
    feedback: str
    status: str = "graded"  # graded | error
    error: str | None = None
    attempts: int = 0  # HTTP requests spent on this row (0 offline or from the cache)
    cached: bool = False

    @classmethod
    def failed(cls, message: str, attempts: int = 0) -> "GradeResult":
        return cls(grade=None, verdict="error", feedback="", status="error", error=message, attempts=attempts)

    def to_cache(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("attempts", "cached")}


def checked(grade: int, verdict: str, feedback: str) -> GradeResult:
    """A GradeResult from a teacher's (grade, verdict, feedback), refusing values off the rubric."""
    if isinstance(grade, bool) or grade not in GRADE_VERDICT:
        raise ValueError(f"grade must be an integer in -2..2, got {grade!r}")
    if verdict not in ("correct", "incorrect", "abstained"):
        raise ValueError(f"verdict must be correct|incorrect|abstained, got {verdict!r}")
    return GradeResult(grade=int(grade), verdict=verdict, feedback=str(feedback or ""))


OnResult = Callable[[int, GradeResult], None]
