"""LaunchPlan: args + env are the source, command / shell / copies are rendered; one reader, one writer."""

import json

import pytest

from rlwhf.errors import RlwhfError
from rlwhf.plan import LaunchPlan, PlanConfig, build_plan, parse_flags

ARGS = {"rlhf_type": "grpo", "model": "m", "dataset": "d.jsonl", "output_dir": "o", "max_steps": 4,
        "reward_funcs": ["a", "b"], "use_vllm": False}


def plan(**args) -> LaunchPlan:
    return LaunchPlan(algo="grpo", args={**ARGS, **args}, env={"A": "1"})


def test_parse_flags_handles_lists_negatives_and_equals():
    argv = ["swift", "rlhf", "--reward_funcs", "a", "b", "--top_k", "-1", "--seed=3", "--flag"]
    assert parse_flags(argv) == {"reward_funcs": ["a", "b"], "top_k": "-1", "seed": "3", "flag": "true"}


def test_command_and_shell_are_rendered_from_args_and_env():
    p = plan()
    assert p.command == ["swift", "rlhf", "--rlhf_type", "grpo", "--model", "m", "--dataset", "d.jsonl",
                         "--output_dir", "o", "--max_steps", "4", "--reward_funcs", "a", "b", "--use_vllm", "false"]
    assert p.shell == "A=1 " + " ".join(p.command)
    assert (p.world_size, p.max_steps, str(p.output_dir), p.model) == (1, 4, "o", "m")


def test_with_args_replaces_in_place_appends_and_removes_and_is_pure():
    p = plan()
    new = p.with_args({"max_steps": 8, "reward_funcs": None}, resume_from_checkpoint="ck", env={"A": None, "B": 2})
    assert new.command[new.command.index("--max_steps") + 1] == "8"
    assert new.command.index("--max_steps") == p.command.index("--max_steps")  # kept its place
    assert new.command[-2:] == ["--resume_from_checkpoint", "ck"] and "--reward_funcs" not in new.command
    assert new.env == {"B": "2"} and p == plan()  # the first plan is untouched
    assert new.changes_since(p) == ["--max_steps: 4 -> 8", "--resume_from_checkpoint: (unset) -> ck",
                                    "--reward_funcs: a b -> (unset)", "env A: 1 -> (unset)", "env B: (unset) -> 2"]
    assert p.replace(profile="cpu").profile == "cpu" and p.profile is None


def test_write_then_load_gives_the_same_plan(tmp_path):
    p = plan().replace(profile="cpu", notes=["n"], fallback=[{"step": "x", "change": "y"}])
    path = p.write(tmp_path / "sub" / "p.json")
    data = json.loads(path.read_text())
    assert data["command"] == p.command and data["shell"] == p.shell and data["output_dir"] == "o"
    assert LaunchPlan.load(path) == p


def test_a_built_plan_round_trips(local_model, tmp_path):
    built = build_plan(PlanConfig(model=str(local_model), dataset="d.jsonl", profile="cpu", nproc_per_node=2))
    loaded = LaunchPlan.load(built.write(tmp_path / "plan.json"))
    assert loaded == built and loaded.to_dict() == json.loads((tmp_path / "plan.json").read_text())
    assert loaded.world_size == 2


def test_a_hand_edit_changes_args_and_drops_the_rendered_keys(tmp_path):
    path = plan().write(tmp_path / "p.json")
    data = json.loads(path.read_text())
    data["args"]["max_steps"] = 9
    path.write_text(json.dumps(data))
    with pytest.raises(RlwhfError, match=r"--max_steps \(command: 4, args: 9\).*delete `command` and `shell`"):
        LaunchPlan.load(path)
    del data["command"], data["shell"]
    path.write_text(json.dumps(data))
    assert LaunchPlan.load(path) == plan(max_steps=9)


def test_a_hand_written_command_only_plan_takes_its_flags_from_the_command(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"command": ["swift", "rlhf", "--model", "m", "--dataset", "d.jsonl",
                                            "--output_dir", "o", "--max_steps", "5"]}))
    p = LaunchPlan.load(path)
    assert p.args["max_steps"] == "5" and p.max_steps == 5 and p.algo == "grpo" and p.env == {}


@pytest.mark.parametrize("edit, message", [
    ({"command": None}, None),  # no command in the file: fine, it is rendered from args
    ({"command": ["swift", "rlhf", "--model", "m", "--dataset", "d.jsonl", "--output_dir", "o", "--max_steps", "5",
                  "--rlhf_type", "grpo", "--reward_funcs", "a", "b", "--use_vllm", "false"]},
     "`command` disagrees with `args` at --max_steps (command: 5, args: 4)"),
    ({"shell": "swift rlhf --max_steps 4"}, "`shell` does not match `env` + `args`"),
    ({"output_dir": "elsewhere"}, "`output_dir` 'elsewhere' disagrees with `args.output_dir` 'o'"),
    ({"world_size": 8}, "`world_size` 8 disagrees with env NPROC_PER_NODE x NNODES (1)"),
])
def test_args_is_the_source_and_a_disagreeing_copy_is_named(tmp_path, edit, message):
    path = tmp_path / "p.json"
    data = plan().to_dict()
    data.update(edit)
    path.write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
    if message is None:
        assert LaunchPlan.load(path) == plan()
        return
    with pytest.raises(RlwhfError) as err:
        LaunchPlan.load(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


@pytest.mark.parametrize("content, message", [
    ("{not json", "p.json: line 1: not valid JSON"),
    ("[]", "a plan is a JSON object"),
    ("{}", "no `args` (and no `command` to read them from)"),
    (json.dumps({"command": "swift rlhf", "env": {}}), "`command` must be a non-empty list of strings"),
    (json.dumps({"command": ["swift", "rlhf", "--model", "m"], "env": {"A": 1}}), "`env` must map names to string"),
    (json.dumps({"command": ["swift", "rlhf", "--model", "m", "--dataset", "d"]}), "no output_dir"),
    (json.dumps({"args": {"model": "m", "dataset": "d", "output_dir": "o"}, "algo": "ppo"}),
     "`algo` must be one of grpo, dpo"),
    (json.dumps({"args": {"model": "m", "dataset": "d", "output_dir": "o"}, "arg": {}}), "unknown key(s) 'arg'"),
    (json.dumps({"args": {"model": "m", "dataset": "d", "output_dir": "o"}, "notes": "x"}), "`notes` must be a list"),
])
def test_bad_plans_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(RlwhfError, match="p.json") as err:
        LaunchPlan.load(path)
    assert message in str(err.value)
    with pytest.raises(RlwhfError, match="plan not found"):
        LaunchPlan.load(tmp_path / "absent.json")
