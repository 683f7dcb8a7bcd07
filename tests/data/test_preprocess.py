"""`rlwhf data preprocess` and `rlwhf data pairs`: aliases, formats, sources, invalid rows, seed shims."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from rlwhf.cli.main import main
from rlwhf.data import PreprocessConfig, preprocess
from rlwhf.data.schema import canonicalize

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "tests" / "assets"
SAMPLE = REPO / "data" / "test" / "honesty_logs_sample.jsonl"


def rows(path) -> list[dict]:
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


def write(path, items) -> Path:
    Path(path).write_text("".join(json.dumps(r) + "\n" for r in items))
    return Path(path)


SCORED = [
    {"prompt": "Capital of Peru?", "answer": "The answer is Lima.", "reward": 2, "reference": "Lima", "answerable": True},
    {"prompt": "Capital of Peru?", "answer": "I don't know.", "reward": 0, "reference": "Lima", "answerable": True},
    {"prompt": "Capital of Peru?", "answer": "The answer is Cusco.", "reward": -2, "reference": "Lima", "answerable": True},
    {"prompt": "Who wins the 2091 Derby?", "answer": "I don't know.", "reward": 0, "reference": None, "answerable": False},
    {"prompt": "Who wins the 2091 Derby?", "answer": "Red Rum II.", "reward": -2, "reference": None, "answerable": False},
    {"prompt": "What is 2 + 2?", "answer": "The answer is 4.", "reward": 2, "reference": "4", "answerable": True},
]


def test_aliases_map_onto_the_canonical_tuple():
    row = canonicalize({"question": "2+2?", "student_answer": "4", "teacher_feedback": "Right.", "grade": 2.0,
                        "solution": 4, "source": "log-7"})
    assert row == {"id": row["id"], "prompt": "2+2?", "answer": "4", "feedback": "Right.", "reward": 2,
                   "reference": "4", "answerable": None, "metadata": {"source": "log-7"}}
    again = canonicalize({"prompt": "2+2?", "response": "4", "critique": "Right.", "score": 2, "reference_answer": "4"})
    assert again["id"] == row["id"] and len(row["id"]) == 16  # content hash, stable across field names
    # `rlwhf reward score` output: `grade` (int) wins over the float `score`, which is kept in metadata.
    scored = canonicalize({"prompt": "p", "completion": "c", "score": 1.37, "grade": 1})
    assert scored["reward"] == 1 and scored["metadata"] == {"score": 1.37}


def test_formats_from_one_log(tmp_path):
    src = write(tmp_path / "logs.jsonl", SCORED)
    for fmt in ("rlwhf", "swift-grpo", "trl-grpo", "swift-dpo"):
        assert main(["data", "preprocess", "--input", str(src), "--output", f"{fmt}.jsonl", "--format", fmt]) == 0
    canon = rows("rlwhf.jsonl")
    assert [r["answer"] for r in canon] == [r["answer"] for r in SCORED] and all(len(r["id"]) == 16 for r in canon)
    grpo = rows("swift-grpo.jsonl")
    assert [r["messages"] for r in grpo] == [[{"role": "user", "content": p}] for p in
                                             ("Capital of Peru?", "Who wins the 2091 Derby?", "What is 2 + 2?")]
    assert [(r["reference"], r["solution"], r["answerable"]) for r in grpo] == [
        ("Lima", "Lima", True), (None, None, False), ("4", "4", True)]
    trl = rows("trl-grpo.jsonl")
    assert trl[0]["prompt"] == [{"role": "user", "content": "Capital of Peru?"}] and len(trl) == 3
    dpo = rows("swift-dpo.jsonl")
    assert len(dpo) == 2  # "What is 2 + 2?" has a single answer: no pair
    assert dpo[0]["messages"] == [{"role": "user", "content": "Capital of Peru?"},
                                  {"role": "assistant", "content": "The answer is Lima."}]
    assert (dpo[0]["rejected_response"], dpo[0]["chosen"], dpo[0]["rejected"], dpo[0]["margin"]) == (
        "The answer is Cusco.", "The answer is Lima.", "The answer is Cusco.", 4)
    assert (dpo[1]["chosen"], dpo[1]["rejected"], dpo[1]["margin"]) == ("I don't know.", "Red Rum II.", 2)


def test_grpo_dedupe_is_reported(tmp_path, capsys):
    src = write(tmp_path / "logs.jsonl", SCORED)
    stats = preprocess(PreprocessConfig(output="g.jsonl", input=[str(src)], format="swift-grpo"))
    assert (stats["read"], stats["written"], stats["duplicate_prompts"]) == (6, 3, 3)
    assert "3 rows repeat an earlier prompt" in capsys.readouterr().err


def test_invalid_rows_reported_with_file_line_reason(tmp_path, capsys):
    src = tmp_path / "logs.jsonl"
    src.write_bytes(json.dumps(SCORED[0]).encode() + b"\n{oops\n" + json.dumps(dict(SCORED[1], reward=4)).encode()
                    + b"\n")
    assert main(["data", "preprocess", "--input", str(src), "--output", "o.jsonl", "--quarantine", "q.jsonl"]) == 0
    captured = capsys.readouterr()
    assert f"{src}:2: invalid JSON: Expecting property name enclosed in double quotes at column 2" in captured.err
    assert f"{src}:3: reward out of range: 4 is not in -2..2" in captured.err
    summary = json.loads(captured.out)
    assert (summary["read"], summary["valid"], summary["invalid"], summary["written"]) == (3, 1, 2, 1)
    assert summary["reasons"] == {"invalid JSON": 1, "reward out of range": 1}
    assert [q["line"] for q in rows("q.jsonl")] == [2, 3] and rows("q.jsonl")[0]["raw"] == "{oops"
    # --strict-input: the first invalid row is fatal (exit 1, no output written).
    assert main(["data", "preprocess", "--input", str(src), "--output", "s.jsonl", "--strict-input"]) == 1
    assert "logs.jsonl:2: invalid JSON" in capsys.readouterr().err and not Path("s.jsonl").exists()


def test_map_directory_stdin_and_max_samples(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    write(folder / "b.jsonl", [{"q": {"text": "B?"}, "a": "b", "r": 1}])
    write(folder / "a.jsonl", [{"q": {"text": "A?"}, "a": "a", "r": 2}, {"q": {"text": "C?"}, "a": "c", "r": 0}])
    (folder / "notes.txt").write_text("not data")
    assert main(["data", "preprocess", "--input", str(folder), "--output", "m.jsonl",
                 "--map", "prompt=q.text", "answer=a", "reward=r"]) == 0
    assert [(r["prompt"], r["reward"]) for r in rows("m.jsonl")] == [("A?", 2), ("C?", 0), ("B?", 1)]
    assert main(["data", "preprocess", "--input", str(folder), "--output", "m2.jsonl", "--max-samples", "2",
                 "--map", "prompt=q.text", "answer=a", "reward=r"]) == 0
    assert len(rows("m2.jsonl")) == 2
    proc = subprocess.run(["rlwhf", "data", "preprocess", "--input", "-", "--output", "-", "--format", "trl-grpo"],
                          input=json.dumps(SCORED[0]) + "\n", capture_output=True, text=True)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["prompt"] == [{"role": "user", "content": "Capital of Peru?"}]
    assert json.loads(proc.stderr.strip().splitlines()[-1])["written"] == 1


@pytest.mark.parametrize("bad,message", [
    (["--map", "prompt"], "expected FIELD=SOURCE"),
    (["--map", "question=q"], "'question' is not one of"),
    (["--max-samples", "0"], "--max-samples must be >= 1"),
])
def test_bad_flags_exit_2(tmp_path, capsys, bad, message):
    src = write(tmp_path / "l.jsonl", SCORED)
    assert main(["data", "preprocess", "--input", str(src), "--output", "o.jsonl", *bad]) == 2
    assert message in capsys.readouterr().err


def test_missing_input_and_no_source(tmp_path, capsys):
    assert main(["data", "preprocess", "--input", "nope.jsonl", "--output", "o.jsonl"]) == 2
    assert "nope.jsonl: no such file" in capsys.readouterr().err
    assert main(["data", "preprocess", "--output", "o.jsonl"]) == 2
    assert "give either --input PATH... or --hf-dataset NAME" in capsys.readouterr().err
    (tmp_path / "empty_dir").mkdir()
    assert main(["data", "preprocess", "--input", str(tmp_path / "empty_dir"), "--output", "o.jsonl"]) == 2
    assert "empty_dir: directory holds no .jsonl files" in capsys.readouterr().err
    write(tmp_path / "in.jsonl", SCORED)
    assert main(["data", "preprocess", "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "in.jsonl")]) == 2
    assert "the output would overwrite an input" in capsys.readouterr().err


def test_streaming_gives_the_same_bytes(tmp_path):
    assert main(["data", "synth", "--output", "s.jsonl", "--n", "300"]) == 0
    outs = []
    for fmt in ("rlwhf", "swift-grpo", "swift-dpo"):
        for streaming in ([], ["--streaming"]):
            out = tmp_path / f"{fmt}{len(outs)}.jsonl"
            proc = subprocess.run([sys.executable, "-m", "rlwhf", "data", "preprocess", "--input", "s.jsonl",
                                   "--output", str(out), "--format", fmt, *streaming],
                                  capture_output=True)
            assert proc.returncode == 0, proc.stderr
            outs.append(out.read_bytes())
        assert outs[-1] == outs[-2] and outs[-1]


def test_hf_dataset_sources(tmp_path):
    pytest.importorskip("datasets")
    src = write(tmp_path / "logs.jsonl", SCORED)
    assert main(["data", "preprocess", "--input", str(src), "--output", "ref.jsonl", "--format", "swift-grpo"]) == 0
    folder = tmp_path / "ds"
    folder.mkdir()
    write(folder / "train.jsonl", SCORED)
    for i, flags in enumerate([["--hf-dataset", str(src)], ["--hf-dataset", str(folder), "--streaming"],
                               ["--hf-dataset", "json", "--hf-data-files", str(src), "--streaming"]]):
        assert main(["data", "preprocess", *flags, "--output", f"h{i}.jsonl", "--format", "swift-grpo"]) == 0
        assert rows(f"h{i}.jsonl") == rows("ref.jsonl")
    import datasets

    datasets.Dataset.from_list([dict(r, reward=float(r["reward"])) for r in SCORED]).save_to_disk(str(tmp_path / "saved"))
    assert main(["data", "preprocess", "--hf-dataset", str(tmp_path / "saved"), "--output", "h9.jsonl",
                 "--format", "swift-grpo"]) == 0
    assert rows("h9.jsonl") == rows("ref.jsonl")


def test_hf_dataset_invalid_rows_and_unloadable(tmp_path, capsys):
    pytest.importorskip("datasets")
    src = write(tmp_path / "logs.jsonl", [SCORED[0], dict(SCORED[1], reward=3)])
    assert main(["data", "preprocess", "--hf-dataset", str(src), "--output", "o.jsonl", "--quarantine", "q.jsonl"]) == 0
    assert f"{src}[train]:2: reward out of range: 3 is not in -2..2" in capsys.readouterr().err
    assert json.loads(rows("q.jsonl")[0]["raw"])["reward"] == 3
    assert main(["data", "preprocess", "--hf-dataset", "no-such-org/no-such-set", "--output", "o.jsonl"]) == 2
    err = capsys.readouterr().err
    assert "rlwhf: error: no-such-org/no-such-set: cannot load dataset" in err and "Traceback" not in err
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(SCORED[0]) + "\n{not json\n")
    # datasets logs its own error before raising, through a handler bound to the stderr of its first
    # import: one that is closed by now (as after an earlier test's capture) printed a traceback.
    closed = io.StringIO()
    closed.close()
    handler = logging.StreamHandler(closed)
    logging.getLogger("datasets").addHandler(handler)
    try:
        for streaming in ([], ["--streaming"]):
            assert main(["data", "preprocess", "--hf-dataset", str(broken), "--output", "b.jsonl", *streaming]) == 2
            err = capsys.readouterr().err
            assert f"rlwhf: error: {broken}: cannot" in err and "Traceback" not in err
    finally:
        logging.getLogger("datasets").removeHandler(handler)


@pytest.mark.slow
def test_tokenize_with_the_models_swift_template(tmp_path, tiny_model_dir):
    pytest.importorskip("swift")
    src = write(tmp_path / "logs.jsonl", SCORED)
    assert main(["data", "preprocess", "--input", str(src), "--output", "t.jsonl", "--format", "swift-grpo",
                 "--tokenize-model", str(tiny_model_dir)]) == 0
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    first = rows("t.jsonl")[0]
    assert tok.decode(first["input_ids"]) == "<|im_start|>user\nCapital of Peru?<|im_end|>\n<|im_start|>assistant\n"
    assert first["length"] == len(first["input_ids"])
    # Canonical rows are encoded with their answer as the assistant turn.
    assert main(["data", "preprocess", "--input", str(src), "--output", "r.jsonl", "--tokenize-model",
                 str(tiny_model_dir)]) == 0
    row = rows("r.jsonl")[0]
    assert row["answer"] == "The answer is Lima." and tok.decode(row["input_ids"]).startswith(
        "<|im_start|>user\nCapital of Peru?<|im_end|>\n<|im_start|>assistant\nThe answer is Lima.")


def test_pairs_command(tmp_path, capsys):
    scored = [{"prompt": r["prompt"], "completion": r["answer"], "score": r["reward"] * 0.9, "grade": r["reward"]}
              for r in SCORED]
    src = write(tmp_path / "scored.jsonl", scored)
    assert main(["data", "pairs", "--input", str(src), "--output", "dpo.jsonl"]) == 0
    out = rows("dpo.jsonl")
    assert [(r["prompt"], r["chosen"], r["rejected"], r["margin"]) for r in out] == [
        ("Capital of Peru?", "The answer is Lima.", "The answer is Cusco.", 4),
        ("Who wins the 2091 Derby?", "I don't know.", "Red Rum II.", 2)]
    assert main(["data", "pairs", "--input", str(src), "--output", "dpo3.jsonl", "--min-margin", "3"]) == 0
    assert [r["margin"] for r in rows("dpo3.jsonl")] == [4]
    assert "swift-dpo: 2 prompts have no answer pair 3+ reward apart" in capsys.readouterr().err
    from rlwhf.data import PairsConfig, make_pairs

    stats = make_pairs(PairsConfig(str(src), "dpo4.jsonl", min_margin=3), log=lambda m: None)
    assert (stats["written"], stats["unpaired_prompts"]) == (1, 2)


def test_synth_splits(tmp_path):
    assert main(["data", "synth", "--output", "h.jsonl", "--split", "heldout", "--n", "50"]) == 0
    assert {r["metadata"]["split"] for r in rows("h.jsonl")} == {"heldout"}
    assert main(["data", "synth", "--output", "a.jsonl", "--n", "50", "--seed", "3"]) == 0
    assert main(["data", "synth", "--output", "b.jsonl", "--n", "50", "--seed", "3"]) == 0
    assert Path("a.jsonl").read_bytes() == Path("b.jsonl").read_bytes() and len(rows("a.jsonl")) == 50


def test_closed_world_mark_reaches_the_grpo_columns(tmp_path):
    """The built-in corpus's metadata.closed_world becomes a boolean column the honesty reward reads
    (ms-swift and TRL pass dataset columns as kwargs); other logs get false."""
    assert main(["data", "synth", "--output", "s.jsonl", "--split", "train", "--n", "10"]) == 0
    src = write(tmp_path / "open.jsonl", SCORED)
    for fmt in ("swift-grpo", "trl-grpo"):
        for name in ("s.jsonl", str(src)):
            out = f"{fmt}-{Path(name).stem}.jsonl"
            assert main(["data", "preprocess", "--input", name, "--output", out, "--format", fmt]) == 0
        assert [r["closed_world"] for r in rows(f"{fmt}-s.jsonl")] == [True] * 2
        assert [r["closed_world"] for r in rows(f"{fmt}-open.jsonl")] == [False] * 3


def test_preprocess_does_not_import_torch(tmp_path):
    src = write(tmp_path / "l.jsonl", SCORED)
    code = ("import sys; from rlwhf.cli.main import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules and 'datasets' not in sys.modules, 'heavy import'; sys.exit(rc)")
    for cmd in (["data", "preprocess", "--input", str(src), "--output", "o.jsonl", "--format", "swift-dpo"],
                ["data", "pairs", "--input", str(src), "--output", "p.jsonl"],
                ["data", "synth", "--output", "s.jsonl", "--n", "10"]):
        proc = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------- the seed's shims, run from the repo root

def test_quality_gate_shim_on_the_sample(tmp_path):
    proc = subprocess.run([sys.executable, "scripts/data_pipeline/data_quality_gate.py", str(SAMPLE), "--strict",
                           "--clean", str(tmp_path / "c.jsonl"), "--quarantine", str(tmp_path / "q.jsonl"),
                           "--report", str(tmp_path / "r.json")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["total"], report["valid"], report["invalid"]) == (3, 3, 0)
    for row in rows(SAMPLE):  # the upstream layout
        assert {"prompt", "answer", "feedback", "reward", "metadata"} <= set(row)
        assert {"source_ai", "confidence_score", "rubric_dimension"} <= set(row["metadata"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "answer": "y", "reward": 7}\n')
    proc = subprocess.run([sys.executable, "scripts/data_pipeline/data_quality_gate.py", str(bad)], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "reward out of range" in proc.stdout


def test_quality_gate_shim_defaults_to_the_preset(tmp_path):
    (tmp_path / "data" / "test").mkdir(parents=True)
    (tmp_path / "data" / "test" / SAMPLE.name).write_bytes(SAMPLE.read_bytes())
    proc = subprocess.run([sys.executable, str(REPO / "scripts/data_pipeline/data_quality_gate.py")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "workspace/data/gate_report.json").read_text())["valid"] == 3
    assert (tmp_path / "workspace/data/honesty_logs.clean.jsonl").read_bytes() == SAMPLE.read_bytes()


def test_preprocess_shim_streaming(tmp_path):
    out = tmp_path / "rows.jsonl"
    proc = subprocess.run([sys.executable, "scripts/data_pipeline/ms_swift_preprocess.py", "--streaming",
                           "--output", str(out)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    got = rows(out)
    assert [r["messages"][0]["content"] for r in got] == [r["prompt"] for r in rows(SAMPLE)]
    assert all(set(r) >= {"messages", "reference", "solution", "answerable"} for r in got)
    # With no flags at all: the preset's raw_logs -> processed, relative to the working directory.
    (tmp_path / "data" / "test").mkdir(parents=True)
    (tmp_path / "data" / "test" / SAMPLE.name).write_bytes(SAMPLE.read_bytes())
    proc = subprocess.run([sys.executable, str(REPO / "scripts/data_pipeline/ms_swift_preprocess.py"), "--streaming"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert rows(tmp_path / "workspace/data/ms_swift_grpo.jsonl") == got
