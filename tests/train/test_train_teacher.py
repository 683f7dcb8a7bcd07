"""`rlwhf train --backend trl` on a teacher-rewarded plan: TRL's GRPOTrainer runs the async teacher reward
(rlwhf_teacher -> rlwhf.integrations.trl.teacher_reward) and the train summary sums its per-step counters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _loopback_teacher import LoopbackTeacher

from rlwhf.cli.main import main
from rlwhf.reward.teacher_reward import balanced, read_records

pytestmark = pytest.mark.slow
ASSETS = Path(__file__).resolve().parents[1] / "assets"


def test_trl_backend_teacher_reward_summed_in_the_summary(tiny_model_dir, tmp_path, capsys):
    plan = tmp_path / "plan.json"
    with LoopbackTeacher(latency_s=0.05) as teacher:
        assert main(["plan", "--algo", "grpo", "--profile", "cpu", "--model", str(tiny_model_dir), "--dataset",
                     str(ASSETS / "plan_grpo_rows.jsonl"), "--output", str(plan), "--output-dir", str(tmp_path / "out"),
                     "--set", "num_generations=4", "per_device_train_batch_size=8", "max_completion_length=8",
                     "max_steps=2", "save_steps=2", "logging_steps=1"]) == 0
        capsys.readouterr()
        # the teacher flags given to `rlwhf train` rewrite the plan's reward
        assert main(["train", "--plan", str(plan), "--backend", "trl", "--no-progress", "--reward", "teacher",
                     "--teacher-base-url", teacher.url, "--teacher-model", "rubric-loopback"]) == 0
        served = teacher.requests
    result = json.loads(capsys.readouterr().out)
    attempt_plan = json.loads(Path(result["attempts"][0]["plan"]).read_text())
    assert attempt_plan["args"]["reward_funcs"] == ["rlwhf_teacher"]
    recs = read_records(tmp_path / "out")
    assert [r["step"] for r in recs] == [1, 2] and all(balanced(r) and r["completions"] == 8 for r in recs)
    summary = json.loads(Path(result["summary"]).read_text())
    t = summary["teacher"]
    assert t["source"] == "teacher" and t["completions"] == 16 and t["fallbacks"] == 0
    assert t["http_requests"] == served - 1  # the rest was the check before training
    rows = (Path(result["telemetry_dir"]) / "teacher_steps.csv").read_text().splitlines()
    assert rows[0].startswith("step,source,completions,requests") and len(rows) == 3
