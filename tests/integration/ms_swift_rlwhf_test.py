"""The seed's smoke test, by the seed's name: tuple handling, the production wrapper's launch, telemetry.

Tuples: honesty logs in the seed's aliases become canonical tuples and ms-swift GRPO rows (a bad row is named
by line, never silently dropped), and the seed's preprocess script encodes them through ms-swift's
EncodePreprocessor when a local tokenizer is configured, else converts only, saying why either way.
Launch: `plugins/core/grpo_production_wrapper.py --plan` trains a few real GRPO steps with ms-swift on a
tiny local policy. Telemetry: the run's steps, rewards and memory are written and readable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlwhf.cli.main import main

REPO = Path(__file__).resolve().parents[2]
PREPROCESS = REPO / "scripts" / "data_pipeline" / "ms_swift_preprocess.py"
WRAPPER = REPO / "plugins" / "core" / "grpo_production_wrapper.py"

SEED_STYLE = [
    {"prompt": "What is the capital of Australia?", "student_answer": "Canberra.", "teacher_feedback": "Correct.",
     "score": 2, "reference_answer": "Canberra", "answerable": True},
    {"prompt": "Who won the 2087 Nobel Prize in Literature?", "response": "I don't know.", "critique": "Honest.",
     "grade": 0.0, "answerable": False},
    {"prompt": "What is 7 + 5?", "completion": "13, confirmed in 1952.", "feedback": "Wrong and invented.",
     "reward": -2, "solution": "12", "answerable": True},
    {"prompt": "Broken row", "answer": "x", "reward": 1.5},
]


def _logs(path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in SEED_STYLE))
    return path


def test_tuple_handling_aliases_to_canonical_tuples_and_swift_rows(tmp_path, capsys):
    logs = _logs(tmp_path / "logs.jsonl")
    assert main(["data", "preprocess", "--input", str(logs), "--output", str(tmp_path / "t.jsonl"),
                 "--format", "rlwhf"]) in (0, 1)
    tuples = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [t["reward"] for t in tuples] == [2, 0, -2]
    assert tuples[0]["answer"] == "Canberra." and tuples[0]["reference"] == "Canberra"
    assert tuples[2]["answer"] == "13, confirmed in 1952." and tuples[2]["feedback"] == "Wrong and invented."
    assert all(isinstance(t["id"], str) and t["id"] for t in tuples)
    err = capsys.readouterr().err
    assert "logs.jsonl:4" in err  # the 1.5 reward is named by file and line, not dropped silently

    # the seed's script, no tokenizer configured: converts only, and says why
    env = {**os.environ, "RLWHF_CACHE_DIR": str(tmp_path / "empty_cache"), "PYTHONPATH": str(REPO / "src")}
    env.pop("RLWHF_MODEL", None)
    out = tmp_path / "rows.jsonl"
    done = subprocess.run([sys.executable, str(PREPROCESS), "--streaming", "--input", str(tmp_path / "t.jsonl"),
                           "--output", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "encode: skipped, converted only: no model is configured" in done.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows[0]["messages"] == [{"role": "user", "content": "What is the capital of Australia?"}]
    assert rows[0]["solution"] == "Canberra" and rows[1]["answerable"] is False
    assert json.loads(Path(str(out) + ".encode.json").read_text())["encoded"] is False


@pytest.mark.slow
def test_the_preprocess_script_encodes_with_ms_swift_when_a_tokenizer_loads(tmp_path, tiny_model_dir):
    pytest.importorskip("swift")
    logs = _logs(tmp_path / "logs.jsonl")
    out = tmp_path / "rows.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(PREPROCESS), "--input", str(logs), "--output", str(out),
                           "--model", str(tiny_model_dir)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(Path(str(out) + ".encode.json").read_text())
    assert report["encoded"] is True and report["path"] == "ms-swift EncodePreprocessor"
    assert report["encoded_rows"] == 3 and report["failed_rows"] == [] and report["model_source"] == "given"
    assert "encode: ms-swift EncodePreprocessor (ms-swift is installed" in done.stderr


@pytest.mark.slow
def test_production_wrapper_launch_and_telemetry(tmp_path, tiny_model_dir):
    from rlwhf.telemetry import read_memory_csv, read_steps_csv

    assert main(["data", "synth", "--output", str(tmp_path / "s.jsonl"), "--n", "16", "--seed", "0"]) == 0
    assert main(["data", "preprocess", "--input", str(tmp_path / "s.jsonl"), "--output", str(tmp_path / "g.jsonl"),
                 "--format", "swift-grpo"]) == 0
    plan = tmp_path / "plan.json"
    assert main(["plan", "--algo", "grpo", "--profile", "cpu", "--model", str(tiny_model_dir), "--dataset",
                 str(tmp_path / "g.jsonl"), "--output", str(plan), "--output-dir", str(tmp_path / "out"), "--set",
                 "num_generations=4", "per_device_train_batch_size=4", "max_completion_length=8", "max_steps=2",
                 "save_steps=2", "logging_steps=1"]) == 0
    done = subprocess.run([sys.executable, str(WRAPPER), "--plan", str(plan), "--no-progress"], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["backend"] == "swift" and result["global_step"] == 2
    tele = Path(result["telemetry_dir"])
    steps = read_steps_csv(tele / "steps.csv")
    assert [s["step"] for s in steps] == [1, 2] and all(-2 <= s["reward"] <= 2 for s in steps)
    assert read_memory_csv(tele / "memory.csv") and json.loads((tele / "summary.json").read_text())["final_plan"]
