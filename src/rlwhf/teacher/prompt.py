"""The versioned teacher prompt (configs/prompts/honesty_rubric_v*.md) and strict reply parsing."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from rlwhf.config import configs_dir
from rlwhf.data.schema import GRADE_VERDICT  # the one grade -> verdict map
from rlwhf.errors import RlwhfError

DEFAULT_RUBRIC = "honesty_rubric_v1"
REMINDER = (
    "Your previous reply could not be used: {reason}. Reply with ONLY one JSON object, no other text: "
    '{{"grade": <integer -2..2>, "verdict": "correct" | "incorrect" | "abstained", "feedback": "<text>"}}'
)
_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n```$", re.S)


class ReplyError(ValueError):
    """A teacher reply that is not the JSON object the rubric asks for."""


@dataclass(frozen=True)
class Rubric:
    version: str  # file stem + hash of the text: the cache key changes whenever the wording does
    system: str
    user: Template

    def messages(self, prompt: str, answer: str, reference: str | None, answerable: bool | None,
                 context: list[dict] | None = None, references: list[str] | None = None,
                 incorrect_answers: list[str] | None = None) -> list[dict]:
        """The chat messages that ask the teacher to grade one answer.

        Several acceptable answers and known wrong ones fill `$references` / `$incorrect_answers` when the
        rubric has them; a rubric without them gets them folded into `$reference` (so every rubric file,
        v1 included, shows the teacher the whole answer key).
        """
        passages = "\n".join(f"[{i + 1}] {p['text']}" for i, p in enumerate(context or [])) or "(none)"
        refs = [r for r in (references or []) if r]
        wrong = [w for w in (incorrect_answers or []) if w]
        refs_text = "; ".join(refs) if refs else (reference if reference is not None else "(none)")
        wrong_text = "; ".join(wrong) if wrong else "(none)"
        reference_text = reference if reference is not None else "(none)"
        placeholders = self.user.template
        if len(refs) > 1 and "$references" not in placeholders:
            reference_text = "any of: " + " | ".join(refs)
        if wrong and "$incorrect_answers" not in placeholders:
            reference_text += "\nKnown incorrect answers (an answer matching only these is wrong): " + " | ".join(wrong)
        user = self.user.substitute(
            prompt=prompt,
            answer=answer,
            reference=reference_text,
            answerable={True: "true", False: "false"}.get(answerable, "unknown"),
            context=passages,
            references=refs_text,
            incorrect_answers=wrong_text,
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


def load_rubric(name_or_path: str | None = None) -> Rubric:
    """A rubric by name (a file in configs/prompts/) or path; sections `## system` and `## user`."""
    name_or_path = name_or_path or DEFAULT_RUBRIC
    path = Path(name_or_path)
    if not path.is_file():
        path = configs_dir() / "prompts" / (name_or_path if name_or_path.endswith(".md") else name_or_path + ".md")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RlwhfError(f"{name_or_path}: rubric prompt not found (looked in {path.parent})") from None
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        header = re.fullmatch(r"##\s+(system|user)\s*", line.strip(), re.I)
        if header:
            current = header.group(1).lower()
            sections[current] = []
        elif current:
            sections[current].append(line)
    missing = [s for s in ("system", "user") if s not in sections]
    if missing:
        raise RlwhfError(f"{path}: rubric prompt lacks the section(s) {', '.join('## ' + s for s in missing)}")
    user = Template("\n".join(sections["user"]).strip())
    try:  # an unknown or malformed $field is a mistake in the file: say so now, not on row 1 of 10,000
        user.substitute(prompt="", answer="", reference="", answerable="", context="", references="",
                        incorrect_answers="")
    except (KeyError, ValueError) as exc:
        raise RlwhfError(f"{path}: the user section has an unknown or malformed field ({exc}); "
                         "allowed: $prompt $answer $reference $answerable $context $references $incorrect_answers "
                       "(write $$ for a dollar)") from None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return Rubric(
        version=f"{path.stem}@{digest}",
        system="\n".join(sections["system"]).strip(),
        user=user,
    )


def parse_reply(text: str) -> tuple[int, str, str]:
    """(grade, verdict, feedback) from a teacher reply, or ReplyError naming what is wrong.

    The reply must be exactly one JSON object (a single ```json fence around it is tolerated) with an
    integer `grade` in -2..2, a string `feedback`, and a `verdict` that, when given, agrees with the grade
    (-2/-1 incorrect, 0 abstained, +1/+2 correct, or abstained: "nobody can know" on an unanswerable question).

    >>> parse_reply('{"grade": 0, "verdict": "abstained", "feedback": "Honest."}')
    (0, 'abstained', 'Honest.')
    """
    if not isinstance(text, str) or not text.strip():
        raise ReplyError("the reply is empty")
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ReplyError(f"the reply is not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(obj, dict):
        raise ReplyError("the reply is JSON but not an object")
    grade = obj.get("grade")
    if isinstance(grade, float) and grade.is_integer():
        grade = int(grade)
    if isinstance(grade, bool) or not isinstance(grade, int) or grade not in GRADE_VERDICT:
        raise ReplyError(f"grade must be an integer in -2..2, got {obj.get('grade')!r}")
    feedback = obj.get("feedback")
    if not isinstance(feedback, str):
        raise ReplyError("feedback must be a string")
    verdict = obj.get("verdict", GRADE_VERDICT[grade])
    allowed = ("correct", "abstained") if grade > 0 else (GRADE_VERDICT[grade],)
    if verdict not in allowed:
        raise ReplyError(f"verdict {verdict!r} disagrees with grade {grade} (expected {' or '.join(allowed)})")
    return grade, verdict, feedback.strip()
