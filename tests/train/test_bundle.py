import json

import pytest

from rlwhf.errors import RlwhfError
from rlwhf.train.bundle import load_plan, parse_flags, plan_changes, set_flag, sync_command


def test_parse_flags_handles_lists_negatives_and_equals():
    argv = ["swift", "rlhf", "--reward_funcs", "a", "b", "--top_k", "-1", "--seed=3", "--flag"]
    assert parse_flags(argv) == {"reward_funcs": ["a", "b"], "top_k": "-1", "seed": "3", "flag": "true"}


def test_set_flag_replaces_appends_and_removes():
    argv = ["swift", "rlhf", "--max_steps", "4", "--reward_funcs", "a", "b"]
    assert set_flag(argv, "max_steps", 8) == ["swift", "rlhf", "--max_steps", "8", "--reward_funcs", "a", "b"]
    assert set_flag(argv, "reward_funcs", ["c"]) == ["swift", "rlhf", "--max_steps", "4", "--reward_funcs", "c"]
    assert set_flag(argv, "resume_from_checkpoint", "ck") [-2:] == ["--resume_from_checkpoint", "ck"]
    assert set_flag(argv, "reward_funcs", None) == ["swift", "rlhf", "--max_steps", "4"]
    assert set_flag(argv, "use_vllm", False)[-2:] == ["--use_vllm", "false"]


def test_sync_command_carries_an_args_edit_into_the_argv():
    old = {"command": ["swift", "rlhf", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1"],
           "args": {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 1}, "env": {}}
    edited = {**old, "args": {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 2,
                              "gradient_checkpointing": True}}
    new = sync_command(old, edited)
    assert parse_flags(new["command"]) == {"per_device_train_batch_size": "4", "gradient_accumulation_steps": "2",
                                           "gradient_checkpointing": "true"}
    assert plan_changes(old, new) == [
        "--gradient_accumulation_steps: 1 -> 2",
        "--gradient_checkpointing: (unset) -> true",
        "--per_device_train_batch_size: 8 -> 4",
    ]


def test_load_plan_fills_args_and_prefers_the_argv_when_they_disagree(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"command": ["swift", "rlhf", "--model", "m", "--dataset", "d.jsonl",
                                            "--output_dir", "o", "--max_steps", "5"],
                                "args": {"max_steps": 9, "model": "m"}, "env": {}}))
    plan = load_plan(path)
    assert plan["args"]["max_steps"] == "5"  # the argv is what would run
    assert plan["args"]["model"] == "m" and plan["algo"] == "grpo"


@pytest.mark.parametrize("content, message", [
    ("{not json", "p.json:1: the plan is not valid JSON"),
    ("[]", "must be a JSON object"),
    (json.dumps({"command": "swift rlhf", "env": {}}), "`command` must be a non-empty list of strings"),
    (json.dumps({"command": ["swift"], "env": {"A": 1}}), "`env` must map names to string values"),
    (json.dumps({"command": ["swift", "rlhf", "--model", "m", "--dataset", "d"], "env": {}}), "no output_dir"),
    (json.dumps({"command": ["swift", "rlhf", "--model", "m", "--dataset", "d", "--output_dir", "o"],
                 "algo": "ppo"}), "`algo` must be one of grpo, dpo"),
])
def test_bad_plans_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(RlwhfError, match="p.json") as err:
        load_plan(path)
    assert message in str(err.value)
