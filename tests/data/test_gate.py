"""`rlwhf data gate`: every bad input of issue 2 gets its exact reason, and no row is ever lost."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlwhf.cli.main import main
from rlwhf.data import GateConfig, gate_file

ASSETS = Path(__file__).resolve().parents[1] / "assets"
GOOD = {"prompt": "What is the capital of France?", "answer": "Paris.", "feedback": "Correct.", "reward": 2,
        "reference": "Paris", "answerable": True,
        "metadata": {"source_ai": "student-1", "confidence_score": 0.9, "rubric_dimension": "correctness"}}


def line(**changes) -> bytes:
    row = dict(GOOD, **changes)
    row = {k: v for k, v in row.items() if v is not ...}
    return json.dumps(row).encode() + b"\n"


def gate(tmp_path: Path, content: bytes, *flags: str) -> tuple[int, dict, list[dict], bytes]:
    src = tmp_path / "logs.jsonl"
    src.write_bytes(content)
    code = main(["data", "gate", str(src), *flags])
    report = json.loads((tmp_path / "logs.gate_report.json").read_text())
    quarantine = [json.loads(x) for x in (tmp_path / "logs.quarantine.jsonl").read_text().splitlines()]
    clean = (tmp_path / "logs.clean.jsonl").read_bytes()
    assert report["total"] == report["valid"] + report["invalid"]
    assert len(quarantine) == report["invalid"]
    assert len(clean.splitlines()) == report["valid"]
    return code, report, quarantine, clean


# (case, bad line bytes, rule, exact reason)
BAD = [
    ("invalid JSON", b'{"prompt": "hi" "answer": "x", "reward": 1}\n', "invalid JSON",
     "invalid JSON: Expecting ',' delimiter at column 17"),
    ("not an object", b'["What is 2+2?", "4", 2]\n', "not a JSON object", "not a JSON object: got list"),
    ("a JSON string", b'"just text"\n', "not a JSON object", "not a JSON object: got string"),
    ("missing prompt", line(prompt=...), "missing prompt",
     "missing prompt: no 'prompt' field (nor question, query, instruction, problem)"),
    ("empty prompt", line(prompt="  "), "empty prompt", "empty prompt: prompt is '  '"),
    ("unicode-blank answer", line(answer="\u3000\n"), "empty answer", "empty answer: answer is '\\u3000\\n'"),
    ("missing answer", line(answer=...), "missing answer",
     "missing answer: no 'answer' field (nor student_answer, response, completion)"),
    ("empty answer", line(answer=""), "empty answer", "empty answer: answer is ''"),
    ("prompt as a list", line(prompt=["a", "b"]), "prompt not a string", "prompt not a string: got list ['a', 'b']"),
    ("metadata as a string", line(metadata="gpt-4"), "metadata not an object",
     "metadata not an object: got string 'gpt-4'"),
    ("reward out of range", line(reward=3), "reward out of range", "reward out of range: 3 is not in -2..2"),
    ("reward negative out of range", line(reward=-5), "reward out of range", "reward out of range: -5 is not in -2..2"),
    ("reward non-integral", line(reward=1.5), "reward not integral", "reward not integral: 1.5 is not a whole number"),
    ("reward NaN", line(reward=float("nan")), "reward is NaN", "reward is NaN: reward must be an integer in -2..2"),
    ("reward as a string", line(reward="2"), "reward not a number", "reward not a number: got string '2'"),
    ("reward as a boolean", line(reward=True), "reward not a number", "reward not a number: got boolean True"),
    ("missing reward", line(reward=...), "missing reward", "missing reward: no 'reward' field (nor grade, score)"),
    ("confidence above 1", line(metadata={"confidence_score": 1.2}), "confidence out of range",
     "confidence out of range: confidence_score 1.2 is not in 0..1"),
    ("confidence below 0", line(metadata={"confidence_score": -0.1}), "confidence out of range",
     "confidence out of range: confidence_score -0.1 is not in 0..1"),
    ("invalid UTF-8", b'{"prompt": "caf\xe9?", "answer": "x", "reward": 1}\n', "invalid UTF-8",
     "invalid UTF-8: byte 0xe9 at column 16"),
    ("unpaired surrogate", b'{"prompt": "x\\ud800", "answer": "y", "reward": 1}\n', "invalid Unicode",
     "invalid Unicode: a \\uD800-\\uDFFF escape without its surrogate pair"),
    ("answerable as a string", line(answerable="yes"), "answerable not a boolean",
     "answerable not a boolean: got string 'yes'"),
]


@pytest.mark.parametrize("case,bad,rule,reason", BAD, ids=[c[0] for c in BAD])
def test_bad_row_quarantined_with_exact_reason(tmp_path, case, bad, rule, reason):
    code, report, quarantine, clean = gate(tmp_path, line() + bad + line(answer="Paris, France."))
    assert code == 1
    assert (report["total"], report["valid"], report["invalid"]) == (3, 2, 1)
    assert report["reasons"] == {rule: 1}
    (q,) = quarantine
    assert (q["line"], q["rule"], q["reason"]) == (2, rule, reason)
    # The raw line is kept verbatim (byte-exact via base64 when it is not UTF-8).
    raw = base64.b64decode(q["raw_base64"]) if "raw_base64" in q else q["raw"].encode()
    assert raw == bad.rstrip(b"\n")
    assert clean == line() + line(answer="Paris, France.")


def test_truncated_last_line(tmp_path):
    truncated = b'{"prompt": "What is 2+2?", "answer": "4", "rew'
    code, report, quarantine, clean = gate(tmp_path, line() + truncated)
    assert code == 1 and report["reasons"] == {"truncated last line": 1}
    assert quarantine[0]["line"] == 2 and quarantine[0]["raw"] == truncated.decode()
    assert quarantine[0]["reason"].startswith("truncated last line: no newline at end of file and the JSON is incomplete")


def test_last_line_without_newline_is_fine_when_complete(tmp_path):
    code, report, _, clean = gate(tmp_path, line() + line(answer="Paris").rstrip(b"\n"))
    assert code == 0 and report["valid"] == 2


def test_bom_and_crlf_are_tolerated(tmp_path):
    content = b"\xef\xbb\xbf" + line().replace(b"\n", b"\r\n") + line(answer="Paris!").replace(b"\n", b"\r\n")
    code, report, quarantine, clean = gate(tmp_path, content)
    assert code == 0 and report["valid"] == 2 and quarantine == []
    assert report["bom_lines"] == [1] and report["crlf_lines"] == 2
    assert clean == line() + line(answer="Paris!")  # BOM and CR stripped, rows otherwise verbatim


def test_blank_lines_are_counted_not_rows(tmp_path):
    code, report, quarantine, clean = gate(tmp_path, b"\n" + line() + b"   \n\n" + line(answer="Paris!") + b"\n")
    assert code == 0
    assert (report["total"], report["valid"], report["blank_lines"]) == (2, 2, 4)
    assert report["blank_line_numbers"] == [1, 3, 4, 6]
    assert report["lines"] == report["total"] + report["blank_lines"]


def test_huge_line(tmp_path):
    huge = line(answer="x" * (10 * 1024 * 1024))
    code, report, quarantine, clean = gate(tmp_path, line() + huge)
    assert code == 1 and report["reasons"] == {"line too long": 1}
    assert quarantine[0]["reason"] == f"line too long: {len(huge) - 1} bytes, over the 1048576-byte limit (--max-line-bytes)"
    assert quarantine[0]["raw"].encode() == huge.rstrip(b"\n")
    # Without the limit the 10 MB row is valid and copied intact.
    code, report, quarantine, clean = gate(tmp_path, line() + huge, "--max-line-bytes", "0")
    assert code == 0 and clean == line() + huge


def test_duplicates_counted_and_optionally_quarantined(tmp_path):
    content = line() + line(feedback="Other feedback.") + line(answer="Lyon.", reward=-2) + line()
    code, report, _, clean = gate(tmp_path, content)
    assert code == 0 and report["duplicates"] == 2 and report["duplicate_line_numbers"] == [2, 4]
    assert report["valid"] == 4
    code, report, quarantine, clean = gate(tmp_path, content, "--dedupe")
    assert code == 1 and report["valid"] == 2 and report["reasons"] == {"duplicate": 2}
    assert [q["line"] for q in quarantine] == [2, 4]


def test_strict_requires_metadata(tmp_path):
    content = (line(metadata={"source_ai": "s", "confidence_score": 0.5}) + line(metadata=...) + line()
               + line(metadata={"source_ai": " ", "confidence_score": 0.5, "rubric_dimension": "x"}))
    code, report, quarantine, _ = gate(tmp_path, content)
    assert code == 0
    code, report, quarantine, _ = gate(tmp_path, content, "--strict")
    assert code == 1 and report["reasons"] == {"missing metadata field": 3}
    assert [q["reason"] for q in quarantine] == ["missing metadata field: --strict needs metadata.rubric_dimension",
                                                 "missing metadata field: --strict needs metadata.source_ai",
                                                 "missing metadata field: --strict needs metadata.source_ai"]


def test_mixed_asset_file(tmp_path):
    """Acceptance: good and bad rows mixed -> exit 1, correct counts, complete quarantine, exactly the good rows."""
    src = ASSETS / "data_mixed_logs.jsonl"
    out = tmp_path / "o"
    code = main(["data", "gate", str(src), "--clean", str(out / "clean.jsonl"), "--quarantine",
                 str(out / "q.jsonl"), "--report", str(out / "report.json")])
    report = json.loads((out / "report.json").read_text())
    assert code == 1
    assert (report["total"], report["valid"], report["invalid"], report["duplicates"]) == (8, 4, 4, 1)
    assert report["reasons"] == {"invalid JSON": 1, "reward out of range": 1, "empty answer": 1,
                                 "metadata not an object": 1}
    raw_lines = src.read_bytes().splitlines()
    good = [raw_lines[i] for i in (0, 2, 4, 7)]
    assert (out / "clean.jsonl").read_bytes().splitlines() == good
    quarantined = [json.loads(x) for x in (out / "q.jsonl").read_text().splitlines()]
    assert [q["line"] for q in quarantined] == [2, 4, 6, 7]
    assert [q["raw"].encode() for q in quarantined] == [raw_lines[i] for i in (1, 3, 5, 6)]


def test_synth_output_passes_strict(tmp_path):
    assert main(["data", "synth", "--output", "s.jsonl", "--n", "400"]) == 0
    assert main(["data", "gate", "s.jsonl", "--strict"]) == 0
    report = json.loads(Path("s.gate_report.json").read_text())
    assert report["total"] == report["valid"] == 400 and report["duplicates"] == 0


@pytest.mark.parametrize("kind", ["empty", "blank only", "missing", "directory", "same outputs"])
def test_unusable_input_exits_2(tmp_path, capsys, kind):
    target = tmp_path / "in.jsonl"
    flags = []
    if kind == "empty":
        target.write_bytes(b"")
    elif kind == "blank only":
        target.write_bytes(b"\n  \r\n\n")
    elif kind == "directory":
        target.mkdir()
    elif kind == "same outputs":
        target.write_bytes(line())
        flags = ["--clean", str(tmp_path / "x.jsonl"), "--quarantine", str(tmp_path / "x.jsonl")]
    assert main(["data", "gate", str(target), *flags]) == 2
    err = capsys.readouterr().err
    expected = {"empty": "in.jsonl: empty file: no rows", "blank only": "in.jsonl: no rows: only blank lines",
                "missing": "in.jsonl: no such file", "directory": "in.jsonl: is a directory, not a JSONL file",
                "same outputs": "--clean, --quarantine and --report must be different files"}[kind]
    assert err.startswith("rlwhf: error: ") and expected in err and "Traceback" not in err
    if kind in ("empty", "blank only"):
        report = json.loads((tmp_path / "in.gate_report.json").read_text())
        assert report["total"] == 0 and report["lines"] == (0 if kind == "empty" else 3)


def test_explicit_output_paths_and_python_api(tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_bytes(line() + line(reward=9))
    report = gate_file(GateConfig(str(src), clean=str(tmp_path / "x" / "c.jsonl"), quarantine=str(tmp_path / "q.jsonl"),
                                  report=str(tmp_path / "r.json")))
    assert (report["valid"], report["invalid"]) == (1, 1)
    assert (tmp_path / "x" / "c.jsonl").read_bytes() == line()


def test_cli_subprocess_is_torch_free(tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_bytes(line())
    code = ("import sys, runpy; sys.argv = ['rlwhf', 'data', 'gate', sys.argv[1]];"
            "from rlwhf.cli.main import main; rc = main(sys.argv[1:]);"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH'); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("NO-TORCH")
