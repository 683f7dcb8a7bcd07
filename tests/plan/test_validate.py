"""rlwhf plan --validate: ms-swift's own parser plus the reward registry, without side effects."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rlwhf.cli.main import main
from rlwhf.plan import LaunchPlan, PlanConfig, build_plan, validate_plan
from rlwhf.plan.config import PROFILES

pytest.importorskip("swift", reason="ms-swift is part of requirements.txt")

DATA = Path(__file__).resolve().parents[1] / "assets" / "plan_grpo_rows.jsonl"
GPUS = {"cuda": {"count": 4, "devices": [{"index": i, "name": "H100", "memory_gb": 80, "compute_capability": "9.0",
                                          "bf16": True} for i in range(4)]},
        "npu": {"count": 0}, "mps": {"available": False}}




def cpu_plan(model, **kw) -> LaunchPlan:
    return build_plan(PlanConfig(model=str(model), dataset=str(DATA), profile="cpu", **kw))


@pytest.mark.parametrize("algo", ["grpo", "dpo"])
@pytest.mark.parametrize("profile", [p for p in PROFILES if p != "auto"])
def test_every_profile_and_algo_plan_passes_validate(local_model, tmp_path, profile, algo):
    extra = {"nnodes": 2, "master_addr": "10.1.2.3", "node_rank": 1} if profile == "multi_node" else {}
    plan = build_plan(PlanConfig(algo=algo, profile=profile, model=str(local_model), dataset=str(DATA), **extra),
                      info=GPUS)
    assert validate_plan(plan) == [], plan.shell
    if profile in ("multi_gpu", "multi_node"):
        assert "--deepspeed" in plan.command  # checked against ms-swift's presets: deepspeed is absent here


def test_auto_and_hub_model_plans_validate(tmp_path):
    plan = build_plan(PlanConfig(model="Qwen/Qwen2.5-0.5B-Instruct", dataset=str(DATA)))
    assert validate_plan(plan) == []
    assert "HF_HUB_OFFLINE" not in plan.env and "--check_model" not in plan.command


def test_cli_validate_through_the_real_command(local_model, tmp_path):
    path = tmp_path / "plan.json"
    assert main(["plan", "--profile", "cpu", "--model", str(local_model), "--dataset", str(DATA),
                 "--output", str(path)]) == 0
    done = subprocess.run(["rlwhf", "plan", "--validate", str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout
    assert not (tmp_path / "workspace").exists()  # no side effects: ms-swift created no output dir


def _problems(plan: LaunchPlan) -> str:
    return "\n".join(validate_plan(plan))


def test_unknown_flag_is_named(local_model):
    plan = cpu_plan(local_model).with_args({"not_a_swift_flag": 1})
    assert "--not_a_swift_flag: not an argument of swift rlhf" in _problems(plan)


def test_bad_choice_and_bad_type_are_named(local_model):
    assert "--torch_dtype" in _problems(cpu_plan(local_model).with_args({"torch_dtype": "float8"}))
    assert "--max_steps" in _problems(cpu_plan(local_model).with_args({"max_steps": "many"}))
    assert "--use_vllm" in _problems(cpu_plan(local_model).with_args({"use_vllm": "perhaps"}))


def test_deepspeed_values_checked_against_ms_swift_presets(local_model, tmp_path):
    assert "--deepspeed: 'zero9'" in _problems(cpu_plan(local_model).with_args({"deepspeed": "zero9"}))
    ds = tmp_path / "ds.json"
    ds.write_text("{}")
    assert validate_plan(cpu_plan(local_model).with_args({"deepspeed": str(ds)})) == []
    assert "--fsdp" in _problems(cpu_plan(local_model).with_args({"deepspeed": "zero2", "fsdp": "fsdp2"}))


def test_reward_functions_checked_against_the_registry(local_model, tmp_path):
    plan = cpu_plan(local_model).with_args({"reward_funcs": ["rlwhf_honesty", "no_such_reward"]})
    problems = _problems(plan)
    assert "--reward_funcs: 'no_such_reward' is not registered" in problems
    assert "'rlwhf_honesty'" not in problems  # loaded from the plugin, so it is registered
    missing = cpu_plan(local_model).with_args({"external_plugins": [str(tmp_path / "absent.py")]})
    assert "--external_plugins" in _problems(missing) and "not found" in _problems(missing)
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("raise RuntimeError('boom')\n")
    assert "failed to load: RuntimeError: boom" in _problems(
        cpu_plan(local_model).with_args({"external_plugins": [str(broken)]}))


def test_grpo_generation_batch_must_fit_num_generations(local_model):
    plan = cpu_plan(local_model).with_args({"per_device_train_batch_size": 6, "num_generations": 4})
    assert "--num_generations: the generation batch (6" in _problems(plan)
    assert "at least 2" in _problems(cpu_plan(local_model).with_args({"num_generations": 1}))


def test_structure_shell_and_secrets(local_model, tmp_path, capsys):
    """A plan file's shape is checked when it is read (LaunchPlan.load): `rlwhf plan --validate` says so, exit 2."""
    plan = cpu_plan(local_model)
    for name, tampered, message in [
        ("shell", dict(plan.to_dict(), shell=plan.shell + " --max_steps 1"), "`shell` does not match"),
        ("nocommand", {k: v for k, v in plan.to_dict().items() if k not in ("command", "args")}, "no `args`"),
        ("launcher", dict(plan.to_dict(), command=["python", "train.py"]), "`command` must start with swift rlhf"),
    ]:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(tampered))
        assert main(["plan", "--validate", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"{path}: {message}" in err and "Traceback" not in err, err
    leaked = plan.with_args({"hub_token": "x"})
    assert "argument --hub_token looks like a credential" in _problems(leaked)


def test_cli_validate_exit_codes(local_model, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    cpu_plan(local_model).with_args({"torch_dtype": "float8"}).write(bad)
    assert main(["plan", "--validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: --torch_dtype" in err and "invalid (1 problem)" in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"command": [\n')
    assert main(["plan", "--validate", str(broken)]) == 2
    assert "line 2: not valid JSON" in capsys.readouterr().err
    assert main(["plan", "--validate", str(tmp_path / "absent.json")]) == 2
    assert "plan not found" in capsys.readouterr().err


def test_cli_validate_notes_a_different_ms_swift_version(local_model, tmp_path, capsys):
    path = tmp_path / "old.json"
    cpu_plan(local_model).replace(ms_swift_version="4.5.0").write(path)
    assert main(["plan", "--validate", str(path)]) == 0
    assert "planned for ms-swift 4.5.0, checked with 4.6.0" in capsys.readouterr().err
