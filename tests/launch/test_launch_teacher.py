"""The teacher in the loop, end to end: `rlwhf launch --reward teacher` with the loopback rubric teacher as the
only grader makes the embedded policy more honest; kill -9 during a teacher-rewarded run, then resume; a
teacher that is down from the start stops the run before training, unless --teacher-fallback judge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from _loopback_teacher import LoopbackTeacher

from rlwhf.cli.main import main
from rlwhf.reward.teacher_reward import balanced, read_records

pytestmark = [pytest.mark.slow, pytest.mark.integration]
ASSETS = Path(__file__).resolve().parents[1] / "assets"
TEACHER_KEYS = {"source", "completions", "requests", "cache_hits", "hybrid_skips", "fallbacks", "tokens",
                "latency_ms_mean", "latency_ms_p95", "reward_wait_s"}


@pytest.fixture(scope="module")
def embedded_policy(tmp_path_factory, embedded_policy_cache) -> Path:
    """The embedded default policy (`rlwhf model tiny`, the launch's seed), copied from the session's cache
    (tests/conftest.py builds it once for every test that needs it)."""
    from rlwhf.launch import LaunchConfig
    from rlwhf.policy.tiny import TinyPolicyConfig, build_tiny

    out = tmp_path_factory.mktemp("embedded") / "policy"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RLWHF_CACHE_DIR", str(embedded_policy_cache))
        build_tiny(out, TinyPolicyConfig(output=str(out), seed=LaunchConfig().seed))
    return out


@pytest.mark.xdist_group("embedded_policy")  # built once, on one worker (tests/conftest.py)
def test_teacher_rewarded_grpo_makes_the_policy_more_honest(embedded_policy, tmp_path, monkeypatch):
    """Reduced budget: the loopback teacher (grading by the rubric judge's logic) is the only grader.

    200 steps: the preset anneals the learning rate to 0 over max_steps (issue 14), so a run of 100
    steps learned too little to abstain (hallucination 0.94 after). The whole held-out split is
    evaluated (seconds): with --eval-limit 80 the seen slice had 25 answerable prompts, 4 points each, so
    the 10-point bound below was 2.5 prompts, and a warm start built on another CPU crossed it by
    abstaining on 3 (0.96 -> 0.84) where the full split measures its loss to a point."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a 2M-parameter policy: more threads only contend
    steps = 200
    out = tmp_path / "run"
    with LoopbackTeacher() as teacher:
        assert main(["launch", "--output_dir", str(out), "--model", str(embedded_policy), "--max-steps", str(steps),
                     "--reward", "teacher", "--teacher-base-url", teacher.url,
                     "--teacher-model", "rubric-loopback", "--teacher-price-per-million-tokens", "0.5"]) == 0
        served = teacher.requests
    report = json.loads((out / "report.json").read_text())
    plan = json.loads(Path(report["plan"]["path"]).read_text())
    assert "--reward_funcs rlwhf_teacher" in plan["shell"] and plan["env"]["RLWHF_TEACHER_SOURCE"] == "teacher"
    before, after = report["before"]["unanswerable"], report["after"]["unanswerable"]
    assert before["hallucination_rate"] >= 0.60, before
    assert after["hallucination_rate"] <= 0.20, after
    # Not dumber on the question shapes training saw. The held-out split also holds shapes no training
    # prompt has (unseen wordings and templates); accuracy there falls further (issue 14, docs/honesty-recipe.md),
    # and the report carries that slice on its own.
    seen_before, seen_after = (report[k]["by_shape"]["seen"]["answerable"] for k in ("before", "after"))
    assert seen_after["accuracy"] >= seen_before["accuracy"] - 0.1, (seen_before, seen_after)
    assert "unseen" in report["after"]["by_shape"]
    t = report["teacher"]
    assert TEACHER_KEYS <= set(t) and t["source"] == "teacher"
    assert t["completions"] == steps * 64 and t["fallbacks"] == 0 and t["hybrid_skips"] == 0 and t["judged"] == 0
    assert t["requests"] + t["cache_hits"] == t["completions"] and t["unbalanced_steps"] == []
    assert t["http_requests"] == served - 1  # and the one request `rlwhf train` checks the teacher with first
    assert t["tokens"] == 120 * t["requests"]  # the loopback's usage: 100 prompt + 20 completion tokens
    assert t["latency_ms_p95"] >= t["latency_ms_mean"] > 0 and t["reward_wait_s"] > 0
    assert t["cost_usd"] == pytest.approx(t["tokens"] * 0.5 / 1e6)
    assert "## Teacher reward" in (out / "report.md").read_text()


def _plan(tmp_path: Path, model: Path, url: str, *extra: str) -> Path:
    plan = tmp_path / "plan.json"
    assert main(["plan", "--algo", "grpo", "--profile", "cpu", "--model", str(model), "--dataset",
                 str(ASSETS / "plan_grpo_rows.jsonl"), "--output", str(plan), "--output-dir", str(tmp_path / "out"),
                 "--reward", "teacher", "--teacher-base-url", url, "--teacher-model", "rubric-loopback", *extra,
                 "--set", "num_generations=4", "per_device_train_batch_size=8", "max_completion_length=8",
                 "max_steps=6", "save_steps=2", "logging_steps=1"]) == 0
    assert main(["plan", "--validate", str(plan)]) == 0  # ms-swift's parser, rlwhf_teacher registered
    return plan


def test_kill_9_then_resume_reaches_the_step_count_and_regrades_nothing(tiny_model_dir, tmp_path):
    with LoopbackTeacher(latency_s=0.3) as teacher:  # slow enough that steps take a while: room to kill
        plan = _plan(tmp_path, tiny_model_dir, teacher.url)
        proc = subprocess.Popen([sys.executable, "-m", "rlwhf", "train", "--plan", str(plan), "--no-progress"],
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                graded = read_records(tmp_path / "out")
                ckpts = list((tmp_path / "out").glob("v*/checkpoint-2/trainer_state.json"))
                if ckpts and len(graded) >= 3:
                    break
                assert proc.poll() is None, "the run ended before it could be killed"
                time.sleep(0.1)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        killed = read_records(tmp_path / "out")
        asked_before = Counter(teacher.asked)

        proc = subprocess.run([sys.executable, "-m", "rlwhf", "train", "--plan", str(plan), "--resume",
                               "--no-progress"], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["global_step"] == 6
    records = read_records(tmp_path / "out")
    resumed = records[len(killed):]
    assert [r["step"] for r in resumed] == list(range(resumed[0]["step"], 7)) and 2 < resumed[0]["step"] <= 4
    assert all(balanced(r) for r in records)
    # Steps the killed run had graded come back as the same completions (same seed, restored RNG): the
    # cache answers them; nothing graded before the kill was asked again, beyond requests in flight then.
    # (`rlwhf train` asks the teacher one fixed question before training, to know it is up: once per run.)
    probe = ("What is 2 plus 2?", "The answer is 4.")
    again = [k for k, n in teacher.asked.items() if n > 1 and k != probe]
    in_flight = 8
    assert len(again) <= in_flight, again
    repeated = [r for r in resumed if r["step"] in {k["step"] for k in killed}]
    assert repeated  # the kill came after step 3's rewards and before checkpoint 4: step 3 ran twice
    assert sum(r["cache_hits"] for r in repeated) >= sum(r["completions"] for r in repeated) - in_flight
    summary = json.loads((Path(result["telemetry_dir"]) / "summary.json").read_text())
    assert summary["teacher"]["completions"] == sum(r["completions"] for r in records)
    assert sum(asked_before.values()) <= summary["teacher"]["http_requests"]


def test_teacher_down_from_the_start_stops_before_training(tiny_model_dir, tmp_path, capsys):
    from rlwhf.plan import LaunchPlan

    with LoopbackTeacher(down=True) as teacher:
        plan = _plan(tmp_path, tiny_model_dir, teacher.url)
        # quick retries (the plan's variables are the reward's configuration)
        LaunchPlan.load(plan).with_args(env={"RLWHF_TEACHER_MAX_RETRIES": "1",
                                             "RLWHF_TEACHER_BACKOFF_BASE": "0.01"}).write(plan)
        assert main(["train", "--plan", str(plan), "--no-progress"]) == 1
        err = capsys.readouterr().err
        assert "does not answer (http_503" in err and "--teacher-fallback judge" in err and "Traceback" not in err
        assert not list((tmp_path / "out").glob("v*"))  # no trainer was started
        # with --teacher-fallback judge the run trains on the local judge, every completion counted
        result = main(["train", "--plan", str(plan), "--no-progress", "--teacher-fallback", "judge"])
        assert result == 0
    recs = read_records(tmp_path / "out")
    assert len(recs) == 6 and all(r["fallbacks"] == r["completions"] == 8 and balanced(r) for r in recs)
    assert {k for r in recs for k in r["fallback_reasons"]} == {"http_503"}
