"""The msgspec shortcuts (`rlwhf.data._fast`, used by the gate and preprocess) never accept a row the
full rules (`schema.canonicalize`) refuse, and never read an accepted row differently: checked line by
line on the gate's bad rows, the built-in corpus and a few thousand rows with random field mixes."""

from __future__ import annotations

import json
import random

import pytest

from rlwhf.data import _fast, io
from rlwhf.data.gate import _fast_decoder
from rlwhf.data.preprocess import _fast_canonical
from rlwhf.data.schema import PROMPT_REQUIRED, ROW_REQUIRED, RowError, canonicalize
from rlwhf.data.synth import iter_synth

STRICT_META = {"source_ai": "student-1", "confidence_score": 0.9, "rubric_dimension": "correctness"}
# Values each field may take in the random rows, the usual one first, then edge and wrong ones
# ("<absent>": no such key). Each field keeps its usual value 3 times in 4, so most rows break one rule.
ABSENT = "<absent>"
CHOICES = {
    "prompt": ["What is 2+2?", "", "  ", "\u3000", 7, None, ["a"], ABSENT],
    "answer": ["4", "", " \n", 4, None, ABSENT],
    "reward": [2, -2, 0, 1, 2.0, -1.0, 1.5, 3, -3, True, "2", None, float("nan"), ABSENT],
    "feedback": ["ok", "", None, 3, ABSENT],
    "reference": ["4", "", None, 4, ABSENT],
    "answerable": [True, False, None, "yes", 1, ABSENT],
    "id": ["r1", "", 5, None, True, ABSENT],
    "metadata": [STRICT_META, {}, {"confidence_score": 0.5}, {"confidence_score": 1.2}, {"confidence_score": "x"},
                 {"confidence_score": True}, {"source_ai": " ", "confidence_score": 0.2, "rubric_dimension": "c"},
                 {**STRICT_META, "extra": [1]}, {"closed_world": True}, "gpt-4", None, [], ABSENT],
    "extra": [ABSENT, "kept in metadata"],
    "completion": [ABSENT, "an alias"],
}


def random_lines(n: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        row = {k: v[0] if rng.random() < 0.75 else rng.choice(v) for k, v in CHOICES.items()}
        out.append(json.dumps({k: v for k, v in row.items() if v is not ABSENT}).encode())
    return out


def corpus() -> list[bytes]:
    synth = [json.dumps(r).encode() for r in iter_synth(300, seed=1)]
    odd = [b'{"prompt": "hi" "answer": "x", "reward": 1}', b'["q", "a", 2]', b'"text"',
           b'{"prompt": "caf\xe9?", "answer": "x", "reward": 1}', b'{"prompt": "x\\ud800", "answer": "y", "reward": 1}',
           b'{"prompt": "q", "answer": "a", "reward": 2, "prompt": "again"}', b'{"prompt": "q", "answer": "a", "reward": 2e0}',
           b'{"prompt": "q", "answer": "a", "reward": 1, "metadata": {"confidence_score": 1e400}}']
    return synth + odd + random_lines(4000)


def full_rules(raw: bytes, strict: bool, required=ROW_REQUIRED):
    try:
        return canonicalize(io.parse_line(raw), strict=strict, required=required)
    except RowError:
        return None


@pytest.mark.parametrize("strict", [False, True])
def test_gate_shortcut_accepts_only_what_the_rules_accept(strict):
    decode = _fast_decoder(strict)
    accepted = 0
    for raw in corpus():
        try:
            r = decode(raw)
        except _fast.ERRORS:
            continue  # the full rules judge it
        if _fast.blank(r.prompt) or _fast.blank(r.answer) or (strict and (
                _fast.blank(r.metadata.source_ai) or _fast.blank(r.metadata.rubric_dimension))):
            continue  # the gate sends these to the full rules too
        row = full_rules(raw, strict)
        assert row is not None, raw
        assert (row["prompt"], row["answer"]) == (r.prompt, r.answer), raw
        accepted += 1
    assert accepted >= 1000  # the shortcut takes the common shape (every corpus row)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("required", [ROW_REQUIRED, PROMPT_REQUIRED], ids=["rows", "prompts"])
def test_preprocess_shortcut_gives_the_rules_row(strict, required):
    as_dict = _fast_canonical(required, strict)
    as_struct = _fast_canonical(required, strict, as_struct=True)
    taken = 0
    for raw in corpus():
        fast = as_dict(raw)
        if fast is None:
            continue  # the full rules judge it
        assert fast == full_rules(raw, strict, required), raw
        # The struct preprocess writes as is encodes to the very bytes of the rules' row.
        assert io.dumps(as_struct(raw)) == io.dumps(full_rules(raw, strict, required)), raw
        taken += 1
    assert taken >= 1000
