"""The production wrapper's logic, driven by a fake trainer with ms-swift's flags and output layout
(fast); the same paths with real ms-swift / TRL runs are in test_integration.py."""

import json

import pytest

from rlwhf.cli.main import main
from rlwhf.errors import RlwhfError
from rlwhf.telemetry import read_memory_csv, read_steps_csv
from rlwhf.train import TrainConfig, train


def _cfg(plan, **kw):
    return TrainConfig(plan=str(plan), progress=False, sample_interval=0.1, **kw)


def test_a_clean_run_returns_the_final_checkpoint_and_writes_telemetry(fake_plan, tmp_path):
    result = train(_cfg(fake_plan(max_steps=4)))
    assert result["global_step"] == 4 and result["final_model"].endswith("checkpoint-4")
    assert [a["status"] for a in result["attempts"]] == ["ok"]
    tele = tmp_path / "out" / "telemetry"
    steps = read_steps_csv(tele / "steps.csv")
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    assert steps[-1]["reward"] == 0.0 and steps[0]["kl"] == 0.01
    assert read_memory_csv(tele / "memory.csv")[0]["rss_mb"] > 1
    for png in ("reward_curve.png", "memory_trace.png"):
        assert (tele / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tele / "summary.json").read_text())
    assert summary["steps_logged"] == 4 and summary["peak_rss_mb"] > 1
    assert summary["versions"]["python"] and "torch" in summary["versions"]
    assert summary["supervisor_cpu_s"] > 0 and summary["trainer_cpu_s"] > 0
    assert summary["final_model"] == result["final_model"]


def test_out_of_memory_applies_one_cascade_step_and_resumes_from_the_last_checkpoint(fake_plan, tmp_path):
    # OOM at step 3 while the batch is above 4: checkpoint-2 exists by then.
    plan = fake_plan(max_steps=4, per_device_train_batch_size=8, oom_above_batch=4, oom_at_step=3)
    result = train(_cfg(plan))
    first, second = result["attempts"]
    assert first["status"] == "oom" and "CUDA out of memory" in first["detail"]
    assert first["fallback"]["step"] == "halve_batch"
    assert "--per_device_train_batch_size: 8 -> 4" in first["fallback"]["changes"]
    assert "--gradient_accumulation_steps: 1 -> 2" in first["fallback"]["changes"]
    assert second["status"] == "ok" and second["resumed_from"].endswith("checkpoint-2")
    assert second["steps_logged"] == [3, 4]  # continued, not restarted
    assert result["global_step"] == 4
    log = (tmp_path / "out" / "telemetry" / "train.log").read_text()
    assert "fallback step 1/" in log and "retrying from" in log
    attempt2 = json.loads((tmp_path / "out" / "telemetry" / "attempt-2.plan.json").read_text())
    assert attempt2["args"]["per_device_train_batch_size"] == 4
    assert [r["step"] for r in read_steps_csv(tmp_path / "out" / "telemetry" / "steps.csv")] == [1, 2, 3, 4]


def test_repeated_oom_halves_again_until_attempts_run_out(fake_plan):
    plan = fake_plan(per_device_train_batch_size=8, oom_above_batch=1)
    with pytest.raises(RlwhfError, match="no attempts left") as err:
        train(_cfg(plan, max_attempts=3))
    assert err.value.exit_code == 1


def test_an_ordinary_error_is_not_retried_and_shows_the_log_tail(fake_plan, tmp_path):
    with pytest.raises(RlwhfError, match="no column named 'messages'") as err:
        train(_cfg(fake_plan(fail_at_step=2)))
    assert err.value.exit_code == 1 and "attempt 1" in str(err.value)
    summary = json.loads((tmp_path / "out" / "telemetry" / "summary.json").read_text())
    assert [a["status"] for a in summary["attempts"]] == ["error"]  # telemetry written on failure too


def test_a_killed_run_resumes_from_its_newest_checkpoint(fake_plan, tmp_path):
    plan = fake_plan(max_steps=6, sigkill_at_step=5)
    with pytest.raises(RlwhfError, match="SIGKILL"):
        train(_cfg(plan, max_attempts=1))
    result = train(_cfg(plan, resume=True))
    assert result["global_step"] == 6
    attempts = result["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert "--resume_from_checkpoint" in (tmp_path / "out" / "telemetry" / "attempt-2.log").read_text()
    assert [a["status"] for a in attempts] == ["killed", "ok"]  # numbering continues across invocations
    assert attempts[1]["resumed_from"].endswith("checkpoint-4") and attempts[1]["steps_logged"] == [5, 6]
    assert "--resume_from_checkpoint" in attempts[1]["argv"]
    assert "continuing from" in (tmp_path / "out" / "telemetry" / "train.log").read_text()


def test_resuming_a_finished_run_trains_nothing_and_returns_its_model(fake_plan):
    plan = fake_plan(max_steps=2)
    first = train(_cfg(plan))
    again = train(_cfg(plan, resume=True))
    assert again["final_model"] == first["final_model"] and again["global_step"] == 2
    assert len(again["attempts"]) == 1  # the first run's attempt only


def test_cli_prints_the_result_and_maps_errors_to_exit_codes(fake_plan, capsys):
    assert main(["train", "--plan", str(fake_plan()), "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["global_step"] == 4
    assert main(["train", "--plan", "missing.json"]) == 2
    assert "missing.json: plan file not found" in capsys.readouterr().err
    assert main(["train", "--plan", str(fake_plan(name="p2.json")), "--max-attempts", "0"]) == 2
    assert main(["train", "--plan", str(fake_plan(name="p3.json", fail_at_step=1)), "--no-progress"]) == 1


def test_the_trl_backend_runs_multi_process_plans_under_torchrun(tmp_path):
    from rlwhf.plan import LaunchPlan
    from rlwhf.train.run_plan import build_argv

    args = {"model": "m", "dataset": "d", "output_dir": "o"}
    plan = LaunchPlan(algo="grpo", args=args, env={"NPROC_PER_NODE": "2", "NNODES": "2", "NODE_RANK": "1",
                                                    "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"})
    argv = build_argv(plan, "trl", tmp_path, tmp_path / "p.json", tmp_path / "ck")
    assert argv[1:13] == ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "2", "--node_rank",
                          "1", "--master_addr", "10.0.0.1", "--master_port", "29500"]
    assert argv[13:15] == ["-m", "rlwhf.train.trl_backend"] and argv[-2:] == ["--resume-from", str(tmp_path / "ck")]
    single = build_argv(LaunchPlan(algo="grpo", args=args), "trl", tmp_path, tmp_path / "p.json", None)
    assert single[1:3] == ["-m", "rlwhf.train.trl_backend"] and "--resume-from" not in single
    swift = build_argv(LaunchPlan(algo="grpo", args={**args, "max_steps": 4}), "swift", tmp_path,
                       tmp_path / "p.json", tmp_path / "ck")
    assert swift == ["swift", "rlhf", "--model", "m", "--dataset", "d", "--output_dir", "o", "--max_steps", "4",
                     "--resume_from_checkpoint", str(tmp_path / "ck")]
