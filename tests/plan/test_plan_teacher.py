"""`rlwhf plan --reward teacher|hybrid|judge --teacher-*`: the plan names rlwhf_teacher, carries the reward's
configuration as RLWHF_TEACHER_* variables (the key's NAME only) and still passes ms-swift's parser."""

from __future__ import annotations

import dataclasses

import pytest

from rlwhf.cli.main import main
from rlwhf.plan import LaunchPlan, apply_teacher, find_secrets
from rlwhf.reward.teacher_reward import TeacherRewardConfig


def plan_for(local_model, tmp_path, *flags) -> LaunchPlan:
    out = tmp_path / "plan.json"
    assert main(["plan", "--algo", "grpo", "--profile", "cpu", "--model", str(local_model), "--dataset", "d.jsonl",
                 "--output", str(out), *flags]) == 0
    return LaunchPlan.load(out)


def test_teacher_plan_carries_the_config_and_validates(local_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XAI_API_KEY", "xai-SECRET-value-123456789012345")
    plan = plan_for(local_model, tmp_path, "--reward", "hybrid", "--teacher-base-url", "https://api.x.ai/v1",
                    "--teacher-model", "grok-4", "--api-key-env", "XAI_API_KEY", "--teacher-max-requests", "5000",
                    "--teacher-fallback", "judge")
    assert plan.args["reward_funcs"] == ["rlwhf_teacher"]
    env = plan.env
    assert env["RLWHF_TEACHER_SOURCE"] == "hybrid" and env["RLWHF_TEACHER_MODEL"] == "grok-4"
    assert env["RLWHF_TEACHER_API_KEY_ENV"] == "XAI_API_KEY" and env["RLWHF_TEACHER_MAX_REQUESTS"] == "5000"
    assert env["RLWHF_TEACHER_FALLBACK"] == "judge" and env["RLWHF_TEACHER_CONCURRENCY"] == "64"  # preset
    assert "xai-SECRET" not in (tmp_path / "plan.json").read_text() and find_secrets(plan) == []
    assert TeacherRewardConfig.from_env(env).base_url == "https://api.x.ai/v1"
    assert main(["plan", "--validate", str(tmp_path / "plan.json")]) == 0
    assert "valid" in capsys.readouterr().out


def test_judge_is_the_default_and_needs_no_network(local_model, tmp_path):
    for flags in ([], ["--reward", "judge"]):
        plan = plan_for(local_model, tmp_path, *flags)
        assert plan.args["reward_funcs"] == ["rlwhf_honesty"]
        assert not [k for k in plan.env if k.startswith("RLWHF_TEACHER_")]


def test_bad_teacher_flags_are_usage_errors(local_model, tmp_path, capsys):
    base = ["plan", "--algo", "grpo", "--profile", "cpu", "--model", str(local_model), "--dataset", "d.jsonl"]
    assert main([*base, "--reward", "teacher"]) == 2
    assert "needs a teacher: --teacher-base-url URL and --teacher-model NAME" in capsys.readouterr().err
    assert main([*base, "--reward", "teacher", "--teacher-base-url", "http://127.0.0.1:1/v1", "--teacher-model",
                 "m", "--api-key-env", "sk-live-key"]) == 2
    err = capsys.readouterr().err
    assert "NAME of an environment variable" in err and "Traceback" not in err


def test_apply_teacher_switches_both_ways(local_model, tmp_path):
    plan = plan_for(local_model, tmp_path)
    on = apply_teacher(plan, TeacherRewardConfig(source="teacher", base_url="http://127.0.0.1:1/v1", model="m"))
    assert on.args["reward_funcs"] == ["rlwhf_teacher"] and on.env["RLWHF_TEACHER_SOURCE"] == "teacher"
    assert "--reward_funcs rlwhf_teacher" in on.shell and "RLWHF_TEACHER_MODEL=m" in on.shell
    off = apply_teacher(on, TeacherRewardConfig())
    assert off.args["reward_funcs"] == ["rlwhf_honesty"]
    assert not [k for k in off.env if k.startswith("RLWHF_TEACHER_")]


@pytest.mark.parametrize("source", ["teacher", "hybrid"])
def test_launch_passes_the_teacher_flags_to_the_plan(source, local_model, tmp_path):
    from rlwhf.launch import LaunchConfig
    from rlwhf.launch.stages import PlanInputs, plan_config, teacher_options
    from rlwhf.plan.build import build_plan
    from rlwhf.preset import load_preset

    cfg = LaunchConfig(reward=source, teacher_base_url="http://127.0.0.1:9/v1", teacher_model="t",
                       teacher_fallback="judge")
    inputs = PlanInputs(output=str(tmp_path / "plan.json"), train_dir=str(tmp_path / "train"), algo="grpo",
                        profile="cpu", max_steps=3, max_minutes=12.0, seed=1, teacher=teacher_options(cfg),
                        model=str(local_model), policy_key="p", dataset="d.jsonl", dataset_sha256="d",
                        train_prompts=100, reward_artifact=None, reward_key=None, preset_sha256="s")
    plan_cfg, steps = plan_config(inputs, "cpu", load_preset())
    assert steps == 3 and plan_cfg.teacher_overrides() == {
        "source": source, "base_url": "http://127.0.0.1:9/v1", "model": "t", "fallback": "judge"}
    plan = build_plan(plan_cfg)
    assert plan.args["reward_funcs"] == ["rlwhf_teacher"] and plan.env["RLWHF_TEACHER_SOURCE"] == source
    # DPO learns from pairs: the teacher flags do not reach its plan
    dpo_cfg, _ = plan_config(dataclasses.replace(inputs, algo="dpo"), "cpu", load_preset())
    assert dpo_cfg.teacher_overrides() == {}
