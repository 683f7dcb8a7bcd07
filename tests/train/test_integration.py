"""Real few-step runs on the tiny local policy: ms-swift and TRL, GRPO with the honesty reward and DPO
on pairs built from synth logs, the RSS-cap fallback, and kill -9 then --resume. Each run is 2-6
steps on a handful of rows; ms-swift's start-up (~10 s) dominates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlwhf.cli.main import main
from rlwhf.telemetry import read_memory_csv, read_steps_csv, read_trainer_log
from rlwhf.train import TrainConfig, train
from rlwhf.train.checkpoints import checkpoint_problem, list_checkpoints

pytestmark = pytest.mark.slow
ASSETS = Path(__file__).resolve().parents[1] / "assets"
SLOW_PLUGIN = ASSETS / "train_slow_plugin.py"
PNG = b"\x89PNG\r\n\x1a\n"
TINY_GRPO = ["num_generations=4", "per_device_train_batch_size=4", "max_completion_length=8", "logging_steps=1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """Synth honesty logs -> ms-swift GRPO rows and DPO pairs, through the documented commands."""
    d = tmp_path_factory.mktemp("train_data")
    assert main(["data", "synth", "--output", str(d / "synth.jsonl"), "--n", "40", "--seed", "0"]) == 0
    assert main(["data", "preprocess", "--input", str(d / "synth.jsonl"), "--output", str(d / "grpo.jsonl"),
                 "--format", "swift-grpo"]) == 0
    assert main(["data", "pairs", "--input", str(d / "synth.jsonl"), "--output", str(d / "dpo.jsonl")]) == 0
    return {"grpo": d / "grpo.jsonl", "dpo": d / "dpo.jsonl"}


def make_plan(path: Path, model: Path, dataset: Path, out: Path, algo: str = "grpo", sets=()) -> Path:
    assert main(["plan", "--algo", algo, "--profile", "cpu", "--model", str(model), "--dataset", str(dataset),
                 "--output", str(path), "--output-dir", str(out), "--set", *sets]) == 0
    return path


def rlwhf_train(*args: str, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-m", "rlwhf", "train", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def check_telemetry(result: dict, steps: int, reward: bool) -> dict:
    tele = Path(result["telemetry_dir"])
    rows = read_steps_csv(tele / "steps.csv")
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    assert all(r["loss"] is not None for r in rows)
    if reward:
        assert all(-2 <= r["reward"] <= 2 and r["reward_std"] >= 0 and r["step_time"] > 0 for r in rows)
    else:
        assert all(r["dpo_reward_margin"] is not None for r in rows)
    memory = read_memory_csv(tele / "memory.csv")
    assert len(memory) >= 3 and max(m["rss_mb"] for m in memory) > 200  # torch + a model, sampled
    assert all(b["time_s"] >= a["time_s"] for a, b in zip(memory, memory[1:]))
    for png in ("reward_curve.png", "memory_trace.png"):
        assert (tele / png).read_bytes()[:8] == PNG
    summary = json.loads((tele / "summary.json").read_text())
    assert summary["versions"]["torch"] and summary["versions"]["trl"]
    assert summary["peak_rss_mb"] == pytest.approx(max(m["rss_mb"] for m in memory), abs=0.2)
    assert summary["global_step"] == steps and summary["wall_time_s"] > 0
    assert summary["plan"]["algo"] == ("grpo" if reward else "dpo")
    return summary


def check_loadable(model_dir: str) -> None:
    """The final model folder loads the way `rlwhf evaluate` and users load it, and generates."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ids = tok.apply_chat_template([{"role": "user", "content": "What is 2 + 2?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert json.loads((Path(model_dir) / "rlwhf_model.json").read_text())["template"] == "chatml"


def test_grpo_through_swift_with_the_honesty_reward(tiny_model_dir, data, tmp_path):
    plan = make_plan(tmp_path / "plan.json", tiny_model_dir, data["grpo"], tmp_path / "out",
                     sets=[*TINY_GRPO, "max_steps=3", "save_steps=2"])
    result = rlwhf_train("--plan", str(plan), "--no-progress")
    assert result["backend"] == "swift" and result["global_step"] == 3
    check_telemetry(result, 3, reward=True)
    log = next((tmp_path / "out").glob("v*/logging.jsonl"))
    assert any(k.startswith("rewards/") and "onesty" in k for k in read_trainer_log(log)[0])
    check_loadable(result["final_model"])


def test_grpo_through_trl_with_the_honesty_reward(tiny_model_dir, data, tmp_path):
    plan = make_plan(tmp_path / "plan.json", tiny_model_dir, data["grpo"], tmp_path / "out",
                     sets=[*TINY_GRPO, "max_steps=2", "save_steps=2"])
    result = rlwhf_train("--plan", str(plan), "--backend", "trl", "--no-progress")
    assert result["backend"] == "trl" and result["global_step"] == 2
    check_telemetry(result, 2, reward=True)
    log = next((tmp_path / "out").glob("v*/logging.jsonl"))
    assert "rewards/honesty_reward/mean" in read_trainer_log(log)[0]
    check_loadable(result["final_model"])


@pytest.mark.parametrize("backend", ["swift", "trl"])
def test_dpo_on_pairs_built_from_synth_logs(tiny_model_dir, data, tmp_path, backend):
    plan = make_plan(tmp_path / "plan.json", tiny_model_dir, data["dpo"], tmp_path / "out", algo="dpo",
                     sets=["max_steps=2", "save_steps=2", "per_device_train_batch_size=4"])
    result = train(TrainConfig(plan=str(plan), backend=backend, progress=False))
    assert result["global_step"] == 2
    check_telemetry(result, 2, reward=False)
    check_loadable(result["final_model"])


def test_rss_cap_triggers_one_cascade_step_then_succeeds(tiny_model_dir, data, tmp_path):
    # The test plugin holds 200 MB per micro-batch row in each training forward: the tiny model then
    # needs ~2.4 GB at batch 8 and ~1.6 GB at batch 4, so a 2 GB cap fails the first attempt only.
    plugins = f"external_plugins={plan_plugin()},{SLOW_PLUGIN}"
    plan = make_plan(tmp_path / "plan.json", tiny_model_dir, data["grpo"], tmp_path / "out",
                     sets=[*TINY_GRPO, "per_device_train_batch_size=8", "max_steps=2", "save_steps=2", plugins])
    result = rlwhf_train("--plan", str(plan), "--no-progress", "--max-rss-gb", "2.0",
                         env={"RLWHF_TEST_HOG_MB_PER_ROW": "200"})
    assert result["global_step"] == 2  # never past max_steps, whenever the cap strikes
    if len(result["attempts"]) == 1:  # a loaded machine: the cap struck only after checkpoint-2 was written
        assert result["attempts"][0]["status"] == "rss_cap"
        assert result["attempts"][0]["fallback"]["not_needed"] is True
        return
    first, second = result["attempts"]
    assert first["status"] == "rss_cap" and first["peak_rss_mb"] > 2048
    assert first["fallback"]["step"] == "halve_batch"
    assert "--per_device_train_batch_size: 8 -> 4" in first["fallback"]["changes"]
    assert second["status"] == "ok" and second["peak_rss_mb"] < 2048
    assert json.loads(Path(second["plan"]).read_text())["args"]["per_device_train_batch_size"] == 4
    assert result["global_step"] == 2
    summary = check_telemetry(result, 2, reward=True)
    assert summary["final_plan"]["fallback"][0]["step"] == "halve_batch"
    assert {m["attempt"] for m in read_memory_csv(Path(result["telemetry_dir"]) / "memory.csv")} == {1, 2}
    log = (Path(result["telemetry_dir"]) / "train.log").read_text()
    assert "rss_cap" in log and "fallback step 1/" in log


def plan_plugin() -> str:
    from rlwhf.reward import plugin_path

    return plugin_path()


def test_kill_9_then_resume_ends_with_the_same_steps_as_an_uninterrupted_run(tiny_model_dir, data, tmp_path):
    sets = [*TINY_GRPO, "max_steps=6", "save_steps=2", f"external_plugins={plan_plugin()},{SLOW_PLUGIN}"]
    plain = make_plan(tmp_path / "plain.json", tiny_model_dir, data["grpo"], tmp_path / "plain", sets=sets)
    uninterrupted = train(TrainConfig(plan=str(plain), progress=False))

    plan = make_plan(tmp_path / "plan.json", tiny_model_dir, data["grpo"], tmp_path / "out", sets=sets)
    env = {**os.environ, "RLWHF_TEST_STEP_SLEEP": "0.6"}
    proc = subprocess.Popen([sys.executable, "-m", "rlwhf", "train", "--plan", str(plan), "--no-progress"],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        # Kill the whole tree (wrapper and trainer) once a checkpoint is complete and training went on.
        while time.monotonic() < deadline:
            done = [c for c in list_checkpoints(tmp_path / "out") if checkpoint_problem(c) is None]
            logs = list((tmp_path / "out").glob("v*/logging.jsonl"))
            steps = [r["step"] for r in read_trainer_log(logs[0])] if logs else []
            if done and steps and max(steps) >= 3:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = max(steps)
    assert killed_at < 6

    result = rlwhf_train("--plan", str(plan), "--resume", "--no-progress")
    resumed = result["attempts"][-1]
    assert resumed["resumed_from"] and resumed["status"] == "ok"
    first_step = resumed["steps_logged"][0]
    assert 2 < first_step <= killed_at + 1  # continued after a checkpoint, not from step 1
    assert result["global_step"] == uninterrupted["global_step"] == 6
    assert "continuing from" in (Path(result["telemetry_dir"]) / "train.log").read_text()
    assert [r["step"] for r in read_steps_csv(Path(result["telemetry_dir"]) / "steps.csv")] == list(range(1, 7))
