"""The JSONL reader/writer and the dedupe hash set under the gate and preprocess."""

from __future__ import annotations

import io as _io
import json
import random

import pytest

from rlwhf.data import io
from rlwhf.data.hashset import HashSet
from rlwhf.data.schema import RowError, canonicalize, check_reward, validate
from rlwhf.errors import RlwhfError


def lines_of(data: bytes, chunk: int):
    old, io.CHUNK = io.CHUNK, chunk
    try:
        stats = io.LineStats()
        return list(io.iter_lines(_io.BytesIO(data), stats)), stats
    finally:
        io.CHUNK = old


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 20])
def test_line_splitting_is_independent_of_the_block_size(chunk):
    data = b'\xef\xbb\xbf{"a": 1}\r\n\n  \n{"b": "' + b"x" * 50 + b'"}\n\r\n{"c": 3}'
    got, stats = lines_of(data, chunk)
    assert got == [(1, b'{"a": 1}', True), (4, b'{"b": "' + b"x" * 50 + b'"}', True), (6, b'{"c": 3}', False)]
    assert (stats.lines, stats.blank_lines, stats.bom_lines, stats.crlf_lines) == (6, [2, 3, 5], [1], 2)


def test_parse_line_reasons():
    with pytest.raises(RowError, match=r"^invalid JSON: nested too deeply$"):
        io.parse_line(b"[" * 100000 + b"]" * 100000)
    with pytest.raises(RowError, match=r"^truncated last line: "):
        io.parse_line(b'{"a": ', terminated=False)
    assert io.parse_line(b'{"a": NaN}')["a"] != io.parse_line(b'{"a": NaN}')["a"]  # NaN parses; rules judge it
    assert io.parse_line(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}  # a surrogate pair is one character
    with pytest.raises(RowError, match=r"^invalid Unicode: a \\uD800-\\uDFFF escape without its surrogate pair$"):
        io.parse_line(b'{"a": "x\\ud800"}')


def test_iter_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": \n')
    with pytest.raises(RlwhfError, match=r"x\.jsonl:3: invalid JSON: Expecting value at column 7"):
        list(io.iter_jsonl(path))


def test_writer_round_trip_and_atomicity(tmp_path):
    rows = [{"prompt": "caf\u00e9 \u2028 \"q\"", "n": i, "x": None, "f": 1.5} for i in range(3000)]
    assert io.write_jsonl(tmp_path / "o.jsonl", rows) == len(rows)
    assert list(io.iter_jsonl(tmp_path / "o.jsonl")) == rows
    with pytest.raises(ZeroDivisionError), io.JsonlWriter(tmp_path / "o.jsonl") as out:
        out.write({"new": 1})
        1 / 0
    assert len(list(io.iter_jsonl(tmp_path / "o.jsonl"))) == len(rows)  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["o.jsonl"]  # and no temp file is left


def test_damaged_lines_of_a_log_being_written(tmp_path):
    """`damaged` = what a line a writer left half-written is: an error, skipped when last, or skipped anywhere."""
    log = tmp_path / "live.jsonl"
    log.write_bytes(b'{"step": 1}\n{"step": 2, "lo')
    with pytest.raises(RlwhfError, match=r"live\.jsonl:2: truncated last line"):
        list(io.iter_objects(log))
    assert [o for _, o in io.iter_objects(log, damaged="last")] == [{"step": 1}]
    # Killed mid-line, then a resumed run appended: the cut line is in the middle now.
    log.write_bytes(b'{"step": 1}\n{"step": 2, "lo{"step": 2}\n{"step": 3}\n')
    with pytest.raises(RlwhfError, match=r"live\.jsonl:2: invalid JSON"):
        list(io.iter_objects(log, damaged="last"))
    assert [w for w, _ in io.iter_objects(log, damaged="skip")] == [f"{log}:1", f"{log}:3"]
    log.write_bytes(b'{"step": 1}\n[1]\n')
    with pytest.raises(RlwhfError, match=r"live\.jsonl:2: a record must be a JSON object"):
        list(io.iter_objects(log, "record", damaged="skip"))  # valid JSON of the wrong kind is never skipped


def test_tail_reads_lines_as_they_complete(tmp_path):
    log = tmp_path / "grow.jsonl"
    tail = io.JsonlTail(log)
    assert tail.read() == []  # not there yet
    log.write_bytes(b'{"a": 1}\r\n\n{"b": ')
    assert tail.read() == [(1, {"a": 1})]
    assert tail.read() == []
    with open(log, "ab") as fh:
        fh.write(b'2}\n\xff\n{"c": 3}')
    got = tail.read()
    assert got[0] == (3, {"b": 2}) and got[1][0] == 4 and got[1][1].rule == "invalid UTF-8" and len(got) == 2
    late = io.JsonlTail(log)
    late.skip_existing()
    with open(log, "ab") as fh:
        fh.write(b'\n{"d": 4}\n')
    assert late.read() == [(5, {"c": 3}), (6, {"d": 4})]


def test_hashset_matches_a_python_set():
    rng = random.Random(0)
    hs, ref = HashSet(capacity_log2=2), set()
    for _ in range(20000):
        h = rng.choice([0, 1, -1, rng.getrandbits(64) - (1 << 63), rng.randrange(300)])
        assert hs.add(h) == ((h or 1) not in ref)
        ref.add(h or 1)
    assert len(hs) == len(ref) and all(h in hs for h in ref)


def test_schema_rules():
    assert check_reward(-2.0) == -2
    assert validate({"prompt": "p", "answer": "a", "reward": 1}) is None
    assert validate({"prompt": "p", "answer": "a", "reward": float("inf")}) == \
        "reward out of range: inf is not in -2..2"
    assert validate({"prompt": "p"}, required=("prompt",)) is None
    row = canonicalize({"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}],
                        "grade": 0})
    assert (row["prompt"], row["answer"], row["reward"]) == ("Q?", "A.", 0)
    assert "messages" not in row["metadata"]
    row = canonicalize({"prompt": "p", "answer": "a", "reward": 1, "source_ai": "x", "metadata": {"source_ai": "y"}})
    assert row["metadata"] == {"source_ai": "y", "input.source_ai": "x"}
    with pytest.raises(RowError) as err:
        canonicalize({"prompt": "p", "answer": "a", "reward": 1, "id": ""})
    assert err.value.rule == "id not a string"


@pytest.mark.parametrize("module", ["schema", "io", "gate", "preprocess", "pairs", "hashset"])
def test_docstring_examples_run(module):
    """The `>>>` examples in the data stage's docstrings are real (they run in this test's temp dir)."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"rlwhf.data.{module}"))
    assert result.attempted > 0 and result.failed == 0
