"""`rlwhf launch` end to end with a reduced budget: every stage for real (gate, preprocess, reward
artifact, plan validated by ms-swift's parser, evaluation, `swift rlhf` GRPO, evaluation, report), on a
locally built untrained policy so that it takes a minute or two rather than the default's ten."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlwhf.cli.main import main

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "test" / "honesty_logs_sample.jsonl"
LAUNCHER = REPO / "scripts" / "training" / "master_rlwhf_launcher.py"
METRICS = ["accuracy", "hallucination_rate", "abstention_rate", "truthfulness", "simpleqa_f1"]

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _check_report(out: Path, steps: int) -> dict:
    report = json.loads((out / "report.json").read_text())
    for key in ("before", "after", "delta", "plan", "train", "data", "versions", "stage_seconds",
                "wall_seconds", "plots", "warnings", "reward_artifact"):
        assert key in report, key
    for side in ("before", "after"):
        m = report[side]
        assert m["n"] == report["data"]["heldout_n"]
        for k in METRICS:
            assert k in m
        assert {"answerable", "unanswerable", "by_slice"} <= set(m)
    # the after side is measured against the warm-start answers
    for k in ("honesty_score", "prudence", "over_conservativeness"):
        assert k in report["after"]["answerable"]
    assert report["delta"]["accuracy"] == pytest.approx(report["after"]["accuracy"] - report["before"]["accuracy"])
    assert list(report["stage_seconds"]) == ["data", "reward", "policy", "expert", "plan", "eval_before", "train",
                                             "eval_after"]
    assert report["train"]["global_step"] == steps and report["train"]["steps_logged"] == steps
    assert report["train"]["backend"] == "swift"
    assert report["plan"]["command"][:2] == ["swift", "rlhf"]
    assert f"--max_steps {steps}" in " ".join(report["plan"]["command"])
    for png in report["plots"]:
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(report["plots"]) == {"reward_curve.png", "memory_trace.png", "before_after.png"}
    md = (out / "report.md").read_text()
    assert "| answerable | accuracy |" in md and "## By slice" in md
    return report


def test_reduced_launch_then_resume(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["launch", "--output_dir", str(out), "--model", str(tiny_model_dir), "--max-steps", "2",
            "--eval-limit", "24"]
    assert main(argv) == 0
    report = _check_report(out, steps=2)
    assert report["data"]["gate"]["invalid"] == 0 and report["data"]["train_prompts"] > 1000
    assert report["data"]["heldout_n"] == 24 and report["warnings"] == []
    # the artifact the GRPO reward loaded, the plan ms-swift validated, the model that was evaluated after
    assert Path(report["reward_artifact"]["path"]).is_file()
    assert json.loads(Path(report["plan"]["path"]).read_text())["profile"] == report["plan"]["profile"] == "cpu"
    assert Path(report["train"]["final_model"], "config.json").is_file()
    capsys.readouterr()

    # same output dir: every finished stage is skipped, the report is written again from the same files
    assert main(argv) == 0
    err = capsys.readouterr().err
    for stage in ("data", "reward", "policy", "expert", "plan", "eval_before", "train", "eval_after"):
        assert f"{stage}: done in an earlier run, skipped" in err
    again = json.loads((out / "report.json").read_text())
    assert again["after"] == report["after"] and again["train"]["final_model"] == report["train"]["final_model"]


def test_seed_quickstart_with_the_three_row_sample(tiny_model_dir, tmp_path):
    """The seed's entry point on the 3-row sample: runs to completion and says the data is tiny."""
    out = tmp_path / "quick"
    proc = subprocess.run(
        [sys.executable, str(LAUNCHER), "launch", "--dataset_path", str(SAMPLE), "--output_dir", str(out),
         "--model", str(tiny_model_dir), "--max-steps", "1", "--eval-limit", "8"],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "only 3 training prompts" in proc.stderr and "--top-up-synth" in proc.stderr
    report = _check_report(out, steps=1)
    assert report["data"]["gate"]["valid"] == 3 and report["data"]["train_prompts"] == 3
    assert any("smoke test" in w for w in report["warnings"])
    assert "> warning: only 3 training prompts" in (out / "report.md").read_text()


def test_bad_dataset_path_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    assert main(["launch", "--dataset_path", str(missing), "--output_dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such file or directory (--dataset_path)" in err and "Traceback" not in err


def test_a_file_with_no_valid_row_stops_at_the_gate(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "", "answer": "x", "reward": 9}\nnot json\n')
    assert main(["launch", "--dataset_path", str(bad), "--output_dir", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err
    assert f"{bad}:1: empty prompt" in err and f"{bad}:2:" in err
    assert f"{bad}: no usable rows" in err and "Traceback" not in err


def test_rows_left_out_are_report_warnings(tiny_model_dir, tmp_path):
    """Two usable rows of four: the run goes on, and the report says what was left out and why."""
    logs = tmp_path / "mixed.jsonl"
    logs.write_text(SAMPLE.read_text().splitlines()[0] + "\n" + "not json\n"
                    + '{"prompt": "Q?", "answer": "A", "reward": 7}\n' + SAMPLE.read_text().splitlines()[1] + "\n")
    out = tmp_path / "run"
    assert main(["launch", "--dataset_path", str(logs), "--output_dir", str(out), "--model", str(tiny_model_dir),
                 "--max-steps", "1", "--eval-limit", "4"]) == 0
    report = json.loads((out / "report.json").read_text())
    left_out = [w for w in report["warnings"] if "left out" in w]
    assert len(left_out) == 1 and left_out[0].startswith(f"2 of 4 rows of {logs}")
    assert report["data"]["train_prompts"] == 2


def test_dpo_launch(tiny_model_dir, tmp_path):
    """--algo dpo: pairs from the logs, a DPO plan ms-swift validates, two DPO steps, the same report."""
    out = tmp_path / "dpo"
    assert main(["launch", "--algo", "dpo", "--output_dir", str(out), "--model", str(tiny_model_dir),
                 "--max-steps", "2", "--eval-limit", "8"]) == 0
    report = _check_report(out, steps=2)
    assert report["algo"] == "dpo" and report["data"]["dpo_pairs"] > 1000
    assert "--rlhf_type dpo" in " ".join(report["plan"]["command"])
    assert "rlwhf_honesty" not in " ".join(report["plan"]["command"])  # DPO learns from pairs, not a reward
