"""Batch scoring of a JSONL file (`rlwhf reward score`): one streaming pass, constant memory.

A row marked `closed_world: true` (top level, or in its metadata as the built-in corpus writes it) is
graded in a closed world: its reference is the whole truth (docs/rubric.md).

Each output line is the input line's own bytes with `"score"` and `"grade"` appended, so every
other field (key order, number spelling, unicode) passes through untouched. msgspec decodes only the
fields the reward reads; a row it cannot read that way (an odd metadata field, a bad line) goes
through the full parser, which names the reason.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any, Optional

import msgspec

from rlwhf.data.io import JsonlWriter, iter_lines, open_input, parse_line
from rlwhf.data.schema import RowError, first_present, is_closed_world, source_names
from rlwhf.errors import RlwhfError
from rlwhf.reward.learned import HonestyReward, _answerable

_ANSWER_KEYS = source_names("answer")  # the schema's one alias table
# The judge's grades are whole numbers: their JSON tails are made once.
_TAILS = {(float(g), g): b',"score":%s,"grade":%d}' % (repr(float(g)).encode(), g) for g in range(-2, 3)}


def score_file(reward: HonestyReward, input_path: str | Path, output_path: str | Path) -> dict:
    """Add `score` (float -2..2) and `grade` (int) to every row of `input_path`.

    A row without a prompt or an answer stops the run with file:line and the rule (no partial output).
    """
    # The loop makes millions of short-lived containers and no reference cycles: the cyclic GC
    # would only re-scan the judge's caches over and over (measured ~10% of the run). Afterwards the
    # caches are long-lived, so they move to the permanent generation (gc.freeze) rather than being
    # traversed by every later collection, the one at interpreter exit included (~20% of a run).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _score_file(reward, str(input_path), output_path)
    finally:
        gc.freeze()
        if gc_was_enabled:
            gc.enable()


def _fields_decoder():
    """A msgspec decoder of just the fields the reward reads, and its errors."""
    unset: Any = msgspec.UNSET

    class Meta(msgspec.Struct):  # only the mark is decoded; other metadata is skipped
        closed_world: Any = unset

    # Every source name of the fields read, from the schema's one alias table (a row whose metadata is
    # not an object takes the full path).
    names = dict.fromkeys(("prompt", *source_names("answer"), *source_names("reference"), "answerable", "closed_world"))
    Fields = msgspec.defstruct("Fields", [(name, Any, unset) for name in names] + [("metadata", Optional[Meta], None)])

    return msgspec.json.Decoder(Fields).decode, (msgspec.DecodeError, msgspec.ValidationError)


def _score_file(reward: HonestyReward, input_path: str, output_path: str | Path) -> dict:
    counts = {"rows": 0, "judge": 0, "model": 0}
    score_one = reward.score_one
    judge_only, judge = reward.model is None, reward.judge.judge  # the same routing as score_one
    decode_fields, decode_errors = _fields_decoder()
    unset = msgspec.UNSET
    with open_input(input_path) as fh, JsonlWriter(output_path) as out:
        for lineno, raw, terminated in iter_lines(fh):
            row = None
            try:
                f = decode_fields(raw)
            except decode_errors:
                f = None  # the full path below names the reason (or reads an odd metadata field)
            if f is not None:
                prompt = f.prompt
                if f.answer is not unset:
                    key, answer = "answer", f.answer
                else:
                    key = next((k for k in _ANSWER_KEYS if getattr(f, k) is not unset), None)
                    answer = getattr(f, key) if key else None
                reference = next((v for v in (getattr(f, k) for k in source_names("reference")) if v is not unset),
                                 None)
                answerable = f.answerable if f.answerable is not unset else None
                closed = f.closed_world is True or (f.metadata is not None and f.metadata.closed_world is True)
            else:
                try:
                    row = parse_line(raw, terminated)
                except RowError as err:
                    raise RlwhfError(f"{input_path}:{lineno}: {err}") from None
                if not isinstance(row, dict):
                    raise RlwhfError(f"{input_path}:{lineno}: a row must be a JSON object")
                prompt = row.get("prompt")
                key, answer = first_present(row, "answer")
                reference = first_present(row, "reference")[1]
                answerable = row.get("answerable")
                closed = is_closed_world(row)
            if not isinstance(prompt, str):
                raise RlwhfError(f"{input_path}:{lineno}: 'prompt' must be a string")
            if key is None:
                raise RlwhfError(f"{input_path}:{lineno}: no answer: give 'answer' or 'completion'")
            if not isinstance(answer, (str, list, dict)):
                raise RlwhfError(f"{input_path}:{lineno}: '{key}' must be a string or chat messages")
            if answerable is not None and answerable.__class__ is not bool:
                answerable = _answerable(answerable)
            if judge_only:
                grade = judge(prompt, answer, reference, answerable, closed).grade
                score, source = float(grade), "judge"
            else:
                score, grade, source = score_one(prompt, answer, reference, answerable, closed)
            body = raw if raw[-1:] == b"}" else raw.rstrip()
            if row is None and body[-1:] == b"}" and b'"score"' not in raw and b'"grade"' not in raw:
                tail = _TAILS.get((score, grade)) or b',"score":%s,"grade":%d}' % (repr(score).encode(), grade)
                out.write_raw(body[:-1] + tail)
            else:  # the full path, or the row already has a score/grade to replace
                row = row if row is not None else parse_line(raw, terminated)
                row["score"] = score
                row["grade"] = grade
                out.write(row)
            counts["rows"] += 1
            counts[source] += 1
    return counts
