"""The canonical RLWHF tuple, its field aliases and the rules a row must follow.

One row = `{"id", "prompt", "answer", "feedback", "reward", "reference", "answerable", "metadata"}`.
`canonicalize` maps other tools' field names onto it and raises `RowError` naming the broken rule;
`validate` returns that reason instead of raising. Stdlib only: the data stage never imports torch.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any, Iterable

CANONICAL_FIELDS = ("id", "prompt", "answer", "feedback", "reward", "reference", "answerable", "metadata")
_CANONICAL_SET = frozenset(CANONICAL_FIELDS)

# canonical field -> accepted source names, tried in order after the canonical name itself.
# `grade` comes before `score` because `rlwhf reward score` writes both and only `grade` is an integer.
ALIASES: dict[str, tuple[str, ...]] = {
    "prompt": ("question", "query", "instruction", "problem"),
    "answer": ("student_answer", "response", "completion"),
    "feedback": ("teacher_feedback", "critique"),
    "reward": ("grade", "score"),
    "reference": ("reference_answer", "solution", "best_answer"),
}



def source_names(name: str) -> tuple[str, ...]:
    """Where a reader looks for canonical field `name`: the name itself, then its aliases, in order.
    Every reader of rows (preprocess, gate, reward build and score, evaluate) uses this order.

    >>> source_names("answer"), source_names("reference")
    (('answer', 'student_answer', 'response', 'completion'), ('reference', 'reference_answer', 'solution', 'best_answer'))
    """
    return (name, *ALIASES.get(name, ()))


def first_present(obj: Mapping, name: str) -> tuple[str | None, Any]:
    """(the source field found, its value) for canonical field `name`, or (None, None).

    >>> first_present({"completion": "4", "solution": "4"}, "answer")
    ('completion', '4')
    """
    for source in source_names(name):
        if source in obj:
            return source, obj[source]
    return None, None


REWARD_MIN, REWARD_MAX = -2, 2
# The rubric's grade -> verdict map, the project's only one (docs/design.md, "The rubric"). On an
# unanswerable question a grade >= 0 is "abstained" (`verdict_of`, the one place of that rule).
GRADE_VERDICT = {2: "correct", 1: "correct", 0: "abstained", -1: "incorrect", -2: "incorrect"}


def verdict_of(grade: int | None, answerable: bool | None = None, verdict: str | None = None) -> str:
    """The rubric's verdict for `grade` (or a teacher's own `verdict`): on a question marked unanswerable
    nothing is "correct", so "correct" becomes "abstained" (a grade >= 0 there says nobody can know). The
    judge, the reward's per-completion verdicts and every teacher's result go through this one rule.

    >>> verdict_of(2), verdict_of(2, answerable=False), verdict_of(-1, answerable=False)
    ('correct', 'abstained', 'incorrect')
    >>> verdict_of(1, False, verdict="correct"), verdict_of(1, True, verdict="correct")
    ('abstained', 'correct')
    """
    verdict = verdict or GRADE_VERDICT[grade]
    return "abstained" if answerable is False and verdict == "correct" else verdict

# Metadata that upstream honesty logs carry; `--strict` requires all three.
STRICT_METADATA = ("source_ai", "confidence_score", "rubric_dimension")
# `metadata.closed_world: true` (or a top-level `closed_world: true` column in trainer rows) says the
# row's reference is the whole truth, as in the built-in synthetic world: the judge then treats any
# extra specific claim as unsupported (docs/rubric.md). Anything but JSON true means an open world.
CLOSED_WORLD = "closed_world"
# The fields a full honesty-log row must have; GRPO prompt rows need only the prompt.
ROW_REQUIRED = ("prompt", "answer", "reward")
PROMPT_REQUIRED = ("prompt",)


class RowError(ValueError):
    """A row broke a rule. `rule` is the stable category (report key), `str(err)` the full reason."""

    def __init__(self, rule: str, detail: str = ""):
        self.rule = rule
        self.detail = detail
        super().__init__(f"{rule}: {detail}" if detail else rule)

    @property
    def reason(self) -> str:
        return str(self)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "object"}.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lookup(obj: dict, source: str) -> tuple[bool, Any]:
    """`source` may be a dotted path into nested objects (`meta.question`)."""
    if source in obj:
        return True, obj[source]
    cur: Any = obj
    for part in source.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def _from_messages(obj: dict) -> dict:
    """Prompt/answer from a chat row (`messages` as ms-swift writes them): last user and assistant turn."""
    msgs = obj.get("messages")
    out: dict[str, Any] = {}
    if not isinstance(msgs, list):
        return out
    for msg in msgs:
        if isinstance(msg, dict) and isinstance(msg.get("content"), str):
            if msg.get("role") == "user":
                out["prompt"] = msg["content"]
            elif msg.get("role") == "assistant":
                out["answer"] = msg["content"]
    return out


def _check_text(row: dict, name: str, required: bool) -> None:
    value = row.get(name)
    if value is None:
        if required:
            raise RowError(f"missing {name}", f"no {name!r} field" + _alias_hint(name))
        return
    if not isinstance(value, str):
        raise RowError(f"{name} not a string", f"got {_type_name(value)} {_short(value)}")
    if not value.strip():
        if required:
            raise RowError(f"empty {name}", f"{name} is {_short(value)}")


def _alias_hint(name: str) -> str:
    aliases = ALIASES.get(name)
    return f" (nor {', '.join(aliases)})" if aliases else ""


def check_reward(value: Any, required: bool = True) -> int | None:
    """The reward as an int in -2..2, or RowError naming what is wrong with it.

    >>> check_reward(2.0)
    2
    """
    if value is None:
        if required:
            raise RowError("missing reward", "no 'reward' field" + _alias_hint("reward"))
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RowError("reward not a number", f"got {_type_name(value)} {_short(value)}")
    if isinstance(value, float):
        if math.isnan(value):
            raise RowError("reward is NaN", "reward must be an integer in -2..2")
        if not REWARD_MIN <= value <= REWARD_MAX:
            raise RowError("reward out of range", f"{value!r} is not in {REWARD_MIN}..{REWARD_MAX}")
        if not value.is_integer():
            raise RowError("reward not integral", f"{value!r} is not a whole number")
        return int(value)
    if not REWARD_MIN <= value <= REWARD_MAX:
        raise RowError("reward out of range", f"{value!r} is not in {REWARD_MIN}..{REWARD_MAX}")
    return value


def check_metadata(meta: Any, strict: bool) -> dict:
    """The row's metadata object (`{}` for null), or RowError: confidence_score in 0..1; with `strict`
    the fields of STRICT_METADATA present.

    >>> check_metadata({"confidence_score": 1.5}, strict=False)
    Traceback (most recent call last):
    ...
    rlwhf.data.schema.RowError: confidence out of range: confidence_score 1.5 is not in 0..1
    """
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise RowError("metadata not an object", f"got {_type_name(meta)} {_short(meta)}")
    conf = meta.get("confidence_score")
    if conf is not None:
        if isinstance(conf, bool) or not isinstance(conf, (int, float)):
            raise RowError("confidence_score not a number", f"got {_type_name(conf)} {_short(conf)}")
        if not 0 <= conf <= 1:  # also false for NaN
            raise RowError("confidence out of range", f"confidence_score {conf!r} is not in 0..1")
    if strict:
        for key in STRICT_METADATA:
            value = meta.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise RowError("missing metadata field", f"--strict needs metadata.{key}")
            if key != "confidence_score" and not isinstance(value, str):
                raise RowError("metadata field not a string", f"metadata.{key} is {_type_name(value)}")
    return meta


def is_closed_world(row: Mapping) -> bool:
    """Does this row (canonical, prompt or trainer row) mark its reference as the whole truth?

    >>> is_closed_world({"prompt": "2+2?", "metadata": {"closed_world": True}}), is_closed_world({"prompt": "2+2?"})
    (True, False)
    """
    if row.get(CLOSED_WORLD) is True:
        return True
    meta = row.get("metadata")
    return isinstance(meta, Mapping) and meta.get(CLOSED_WORLD) is True


def stable_id(prompt: str, answer: str | None, feedback: str | None, reward: int | None,
              reference: str | None, answerable: bool | None) -> str:
    """A content hash: the same row gets the same id on every machine and run.

    >>> stable_id("2+2?", "4", "", 2, "4", True) == stable_id("2+2?", "4", "", 2, "4", True)
    True
    """
    key = "\x1f".join(("" if v is None else str(v)) for v in (prompt, answer, feedback, reward, reference, answerable))
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def canonicalize(obj: Any, field_map: dict | None = None, *, strict: bool = False,
                 required: Iterable[str] = ROW_REQUIRED) -> dict:
    """Map a raw row onto the canonical tuple, or raise RowError with the broken rule.

    Unknown top-level fields move into `metadata` (as `input.<name>` when metadata already holds
    a different value under that name: nothing is dropped); `field_map` maps
    canonical field -> source field (dotted paths allowed) and beats the built-in aliases.

    >>> canonicalize({"prompt": "2+2?", "response": "4", "score": 2})["answer"]
    '4'
    """
    if not isinstance(obj, dict):
        if not isinstance(obj, Mapping):
            raise RowError("not a JSON object", f"got {_type_name(obj)}")
        obj = dict(obj)  # e.g. a `datasets` LazyRow
    required = tuple(required)
    if not field_map and obj.keys() <= _CANONICAL_SET:
        row, extras = obj, None  # already canonical (the common case): nothing to rename or move
    else:
        row, extras = _rename(obj, field_map)

    _check_text(row, "prompt", "prompt" in required)
    _check_text(row, "answer", "answer" in required)
    _check_text(row, "feedback", False)
    reward = check_reward(row.get("reward"), "reward" in required)

    reference = row.get("reference")
    if isinstance(reference, int) and not isinstance(reference, bool):
        reference = str(reference)  # arithmetic references often arrive as numbers
    elif reference is not None and not isinstance(reference, str):
        raise RowError("reference not a string", f"got {_type_name(reference)} {_short(reference)}")
    answerable = row.get("answerable")
    if answerable is not None and not isinstance(answerable, bool):
        raise RowError("answerable not a boolean", f"got {_type_name(answerable)} {_short(answerable)}")
    metadata = check_metadata(row.get("metadata"), strict)
    rid = row.get("id")
    if isinstance(rid, int) and not isinstance(rid, bool):
        rid = str(rid)
    elif rid is not None and (not isinstance(rid, str) or not rid):
        raise RowError("id not a string", f"got {_type_name(rid)} {_short(rid)}")

    if extras:
        metadata = dict(metadata)
        for key, value in extras.items():
            if key in metadata and metadata[key] != value:
                key = f"input.{key}"  # the top-level field and metadata disagree: keep both
            metadata.setdefault(key, value)
    prompt, answer, feedback = row.get("prompt"), row.get("answer"), row.get("feedback") or ""
    if rid is None:
        rid = stable_id(prompt, answer, feedback, reward, reference, answerable)
    return {"id": rid, "prompt": prompt, "answer": answer, "feedback": feedback, "reward": reward,
            "reference": reference, "answerable": answerable, "metadata": metadata}


def _rename(obj: dict, field_map: dict | None) -> tuple[dict, dict]:
    """(canonical fields found through --map, the names themselves or their aliases; the rest)."""
    row: dict[str, Any] = {}
    used: set[str] = set()
    for name in CANONICAL_FIELDS:
        if field_map and name in field_map:
            found, value = _lookup(obj, field_map[name])
            if found:
                row[name] = value
                used.add(field_map[name].split(".")[0])
                continue
        if name in obj:
            row[name] = obj[name]
            used.add(name)
            continue
        for alias in ALIASES.get(name, ()):
            if alias in obj:
                row[name] = obj[alias]
                used.add(alias)
                break
    if ("prompt" not in row or "answer" not in row) and "messages" in obj:
        for name, value in _from_messages(obj).items():
            row.setdefault(name, value)
        used.add("messages")
    return row, {k: v for k, v in obj.items() if k not in used}


def validate(obj: Any, strict: bool = False, *, required: Iterable[str] = ROW_REQUIRED) -> str | None:
    """The reason `obj` is not a valid row, or None.

    >>> validate({"prompt": "Capital of France?", "answer": "Paris.", "reward": 7})
    'reward out of range: 7 is not in -2..2'
    """
    try:
        canonicalize(obj, strict=strict, required=required)
    except RowError as err:
        return str(err)
    return None
