"""rlwhf plan: building launch bundles (no ms-swift import needed here)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from rlwhf.cli.main import main
from rlwhf.errors import RlwhfError
from rlwhf.plan import LaunchPlan, PlanConfig, build_plan, find_secrets, parse_override, redact, render_shell
from rlwhf.preset import load_preset

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DATA = ASSETS / "plan_grpo_rows.jsonl"


def gpus(n: int, bf16: bool = True) -> dict:
    """A detect() result for a machine with `n` CUDA GPUs."""
    devices = [{"index": i, "name": "A100" if bf16 else "V100", "memory_gb": 80.0,
                "compute_capability": "8.0" if bf16 else "7.0", "bf16": bf16} for i in range(n)]
    return {"cuda": {"available": n > 0, "count": n, "devices": devices}, "npu": {"count": 0},
            "mps": {"available": False}, "torch_available": True}




def plan_for(model, **kw) -> LaunchPlan:
    kw.setdefault("dataset", str(DATA))
    kw.setdefault("profile", "cpu")
    info = kw.pop("info", None)
    return build_plan(PlanConfig(model=str(model), **kw), info=info)


def flag(plan: LaunchPlan, name: str):
    """The argv value(s) after --name (None when absent)."""
    cmd = plan.command
    if f"--{name}" not in cmd:
        return None
    i = cmd.index(f"--{name}") + 1
    values = []
    while i < len(cmd) and not cmd[i].startswith("--"):
        values.append(cmd[i])
        i += 1
    return values[0] if len(values) == 1 else values


def test_cpu_grpo_plan_has_the_contract_keys_and_cpu_flags(local_model):
    plan = plan_for(local_model, algo="grpo")
    for key in ("command", "env", "profile", "algo", "ms_swift_version", "shell", "args", "output_dir",
                "model", "dataset", "backend"):
        assert key in plan.to_dict(), key  # the plan file's contract (docs/design.md)
    assert plan.command[:2] == ["swift", "rlhf"]
    assert plan.profile == "cpu" and plan.algo == "grpo" and plan.backend == "swift"
    assert flag(plan, "rlhf_type") == "grpo"
    assert flag(plan, "use_vllm") == "false" and flag(plan, "torch_dtype") == "float32"
    assert flag(plan, "use_cpu") is None  # one process: no gloo needed
    # Offline-safe local model: model_type/template from rlwhf_model.json, no hub check.
    assert flag(plan, "model") == str(local_model.resolve())
    assert (flag(plan, "model_type"), flag(plan, "template"), flag(plan, "check_model")) == ("qwen2", "chatml", "false")
    assert plan.env["HF_HUB_OFFLINE"] == "1"
    # The honesty reward is wired.
    plugin = Path(flag(plan, "external_plugins"))
    assert plugin.name == "rlwhf_swift_plugin.py" and plugin.parent.parent.name == "integrations"
    assert flag(plan, "reward_funcs") == "rlwhf_honesty"
    assert "NPROC_PER_NODE" not in plan.env
    assert Path(plan.output_dir).is_absolute()


def test_numbers_come_from_the_preset(local_model, tmp_path):
    preset = load_preset()
    plan = plan_for(local_model, algo="grpo")
    for key, value in preset.algo("grpo").args.items():
        if key != "output_dir":
            assert plan.args[key] == value, key
    # Change the preset: the plan follows (there is no second copy of the numbers).
    custom = preset.to_dict()
    custom["grpo"]["num_generations"] = 4
    custom["profiles"]["cpu"]["args"]["torch_dtype"] = "bfloat16"
    path = tmp_path / "preset.yaml"
    import yaml

    path.write_text(yaml.safe_dump(custom))
    plan = plan_for(local_model, algo="grpo", preset=str(path))
    assert flag(plan, "num_generations") == "4" and flag(plan, "torch_dtype") == "bfloat16"


def test_dpo_plan_has_no_reward_wiring(local_model):
    plan = plan_for(local_model, algo="dpo")
    assert flag(plan, "rlhf_type") == "dpo"
    assert flag(plan, "reward_funcs") is None and flag(plan, "external_plugins") is None
    assert "RLWHF_REWARD_ARTIFACT" not in plan.env


def test_reward_artifact_goes_to_env_and_a_missing_one_is_an_error(local_model, tmp_path):
    artifact = tmp_path / "honesty_reward_model.json"
    artifact.write_text("{}")
    plan = plan_for(local_model, reward_artifact=str(artifact))
    assert plan.env["RLWHF_REWARD_ARTIFACT"] == str(artifact.resolve())
    with pytest.raises(RlwhfError, match="reward artifact not found"):
        plan_for(local_model, reward_artifact=str(tmp_path / "absent.json"))


def test_reward_shaping_is_checked_and_pinned_in_the_plan(local_model, monkeypatch):
    """$RLWHF_REWARD_SHAPING goes into the plan's env (normalised, with a note), so `rlwhf train` trains on
    what the plan says; a bad value stops the plan, not the trainer; no shaping, no variable."""
    monkeypatch.delenv("RLWHF_REWARD_SHAPING", raising=False)
    assert "RLWHF_REWARD_SHAPING" not in plan_for(local_model, algo="grpo").env
    monkeypatch.setenv("RLWHF_REWARD_SHAPING", '{"abstain_difficulty": 0.5, "outcome_rewards": {"wrong": -1}}')
    plan = plan_for(local_model, algo="grpo")
    pinned = json.loads(plan.env["RLWHF_REWARD_SHAPING"])
    assert pinned == {"abstain_difficulty": 0.5, "outcome_rewards": {"wrong": -1.0}}
    assert any(n.startswith("reward shaping: ") for n in plan.notes)
    assert "RLWHF_REWARD_SHAPING" not in plan_for(local_model, algo="dpo").env
    # the trainer's environment: the plan's value, and none when the plan has none, whatever ours holds
    from rlwhf.train.run_plan import child_env

    monkeypatch.setenv("RLWHF_REWARD_SHAPING", '{"outcome_rewards": {"wrong": 0}}')
    assert json.loads(child_env(plan)["RLWHF_REWARD_SHAPING"]) == pinned
    assert "RLWHF_REWARD_SHAPING" not in child_env(plan_for(local_model, algo="dpo"))
    monkeypatch.setenv("RLWHF_REWARD_SHAPING", '{"outcome_rewards": {"wrong": -3}}')
    with pytest.raises(RlwhfError, match=r"RLWHF_REWARD_SHAPING.outcome_rewards.wrong: must be a number in -2..2"):
        plan_for(local_model, algo="grpo")


def test_cpu_with_two_processes_uses_gloo_via_use_cpu(local_model):
    plan = plan_for(local_model, nproc_per_node=2, master_port=29555)
    assert flag(plan, "use_cpu") == "true"
    assert plan.env["NPROC_PER_NODE"] == "2" and plan.env["MASTER_PORT"] == "29555"
    assert plan.world_size == 2


def test_gpu_profiles_bf16_deepspeed_and_gpu_count(local_model):
    single = plan_for(local_model, profile="single_gpu", info=gpus(1))
    assert flag(single, "torch_dtype") == "bfloat16" and flag(single, "deepspeed") is None
    multi = plan_for(local_model, profile="multi_gpu", info=gpus(4))
    assert multi.env["NPROC_PER_NODE"] == "4" and flag(multi, "deepspeed") == "zero2"
    old = plan_for(local_model, profile="single_gpu", info=gpus(1, bf16=False))
    assert flag(old, "torch_dtype") == "float16"
    # Planned on a machine without GPUs: the preset's assumption, said out loud.
    blind = plan_for(local_model, profile="multi_gpu", info=gpus(0))
    assert blind.env["NPROC_PER_NODE"] == str(load_preset().profile("multi_gpu").assumed_devices)
    assert any("assumed" in n for n in blind.notes)


def test_vllm_colocate_and_unsloth_standby_only_when_installed(local_model, monkeypatch):
    import rlwhf.hardware.machine as machine

    present: set[str] = set()
    monkeypatch.setattr(machine, "installed", lambda dist: dist in present)
    plan = plan_for(local_model, profile="single_gpu", info=gpus(1))
    assert flag(plan, "use_vllm") is None and "UNSLOTH_VLLM_STANDBY" not in plan.env
    present.add("vllm")
    plan = plan_for(local_model, profile="single_gpu", info=gpus(1))
    assert flag(plan, "use_vllm") == "true" and flag(plan, "vllm_mode") == "colocate"
    assert "UNSLOTH_VLLM_STANDBY" not in plan.env
    present.add("unsloth")
    plan = plan_for(local_model, profile="single_gpu", info=gpus(1))
    assert plan.env["UNSLOTH_VLLM_STANDBY"] == "1"
    assert flag(plan_for(local_model, profile="single_gpu", algo="dpo", dataset=str(DATA), info=gpus(1)),
                "use_vllm") is None  # DPO does not generate


def test_multi_node_env_and_checks(local_model):
    plan = plan_for(local_model, profile="multi_node", node_profile="multi_gpu", nnodes=2, node_rank=1,
                    master_addr="10.0.0.1", master_port=29400, info=gpus(8))
    assert {k: plan.env[k] for k in ("NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "NPROC_PER_NODE")} == {
        "NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29400", "NPROC_PER_NODE": "8"}
    assert flag(plan, "deepspeed") == "zero3" and plan.world_size == 16
    cpu_nodes = plan_for(local_model, profile="multi_node", node_profile="cpu", nnodes=2, nproc_per_node=1,
                         master_addr="127.0.0.1")
    assert flag(cpu_nodes, "use_cpu") == "true" and flag(cpu_nodes, "deepspeed") is None
    # Same plan on every node but NODE_RANK.
    other = plan_for(local_model, profile="multi_node", node_profile="cpu", nnodes=2, nproc_per_node=1,
                     master_addr="127.0.0.1", node_rank=1)
    assert other.command == cpu_nodes.command
    assert {k: v for k, v in other.env.items() if k != "NODE_RANK"} == \
        {k: v for k, v in cpu_nodes.env.items() if k != "NODE_RANK"}
    with pytest.raises(RlwhfError, match="master-addr"):
        plan_for(local_model, profile="multi_node", node_profile="cpu", nnodes=2)
    with pytest.raises(RlwhfError, match="node-rank"):
        plan_for(local_model, profile="multi_node", node_profile="cpu", nnodes=2, node_rank=2, master_addr="h")
    with pytest.raises(RlwhfError, match="multi_node"):
        plan_for(local_model, profile="cpu", nnodes=2, master_addr="h")
    auto = plan_for(local_model, profile="auto", nnodes=2, node_profile="cpu", master_addr="h")
    assert auto.profile == "multi_node" and "2 nodes" in auto.profile_reason


def test_overrides_are_typed_by_the_preset():
    assert parse_override("max_steps=5", 150) == ("max_steps", 5)
    assert parse_override("learning_rate=1e-5", 1.0e-4) == ("learning_rate", 1e-5)
    assert parse_override("log_completions=false", True) == ("log_completions", False)
    assert parse_override("reward_funcs=a,b", ["x"]) == ("reward_funcs", ["a", "b"])
    assert parse_override("new_flag=3") == ("new_flag", 3)
    assert parse_override("--save-steps=7", 50) == ("save_steps", 7)
    with pytest.raises(RlwhfError, match="max_steps is a int"):
        parse_override("max_steps=many", 150)


def test_set_overrides_and_drops_arguments(local_model):
    plan = plan_for(local_model, overrides=["max_steps=3", "use_vllm=", "warmup_steps=2"])
    assert plan.args["max_steps"] == 3 and flag(plan, "max_steps") == "3"
    assert "use_vllm" not in plan.args and flag(plan, "use_vllm") is None
    assert flag(plan, "warmup_steps") == "2"


def test_with_args_is_pure_and_rerenders(local_model):
    plan = plan_for(local_model)
    new = plan.with_args({"max_steps": 2, "report_to": None}, env={"EXTRA": "1"})
    assert flag(new, "max_steps") == "2" and flag(new, "report_to") is None and new.env["EXTRA"] == "1"
    preset_steps = str(load_preset().algo("grpo").max_steps)
    assert flag(plan, "max_steps") == preset_steps and "EXTRA" not in plan.env  # the input is untouched
    assert shlex.split(new.shell) == [f"{k}={v}" for k, v in new.env.items()] + new.command


@pytest.mark.parametrize("name", ["my data.jsonl", "it's \"quoted\".jsonl", "a;rm -rf x.jsonl", "$(echo no).jsonl"])
def test_awkward_dataset_paths_stay_one_argv_element(local_model, tmp_path, name):
    data = tmp_path / name
    data.write_text(DATA.read_text())
    plan = plan_for(local_model, dataset=str(data))
    assert flag(plan, "dataset") == str(data.resolve())
    assert shlex.split(plan.shell) == [f"{k}={v}" for k, v in plan.env.items()] + plan.command


def test_shell_line_runs_in_a_real_shell_with_the_same_argv_and_env(local_model, tmp_path):
    """A stand-in `swift` on PATH records what bash actually hands it."""
    data = tmp_path / "odd name; 'x'.jsonl"
    data.write_text(DATA.read_text())
    plan = plan_for(local_model, dataset=str(data), nproc_per_node=2)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "swift"
    fake.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    "json.dump({'argv': sys.argv[1:], 'env': dict(os.environ)}, open(os.environ['OUT'], 'w'))\n")
    fake.chmod(0o755)
    out = tmp_path / "seen.json"
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "OUT": str(out)}
    subprocess.run(["bash", "-c", plan.shell], env=env, check=True, timeout=60)
    seen = json.loads(out.read_text())
    assert seen["argv"] == plan.command[1:]
    for key, value in plan.env.items():
        assert seen["env"][key] == value


def test_render_shell_round_trip():
    env = {"A": "x y", "B": "it's"}
    cmd = ["swift", "rlhf", "--dataset", "a b;c", "--x", ""]
    assert shlex.split(render_shell(env, cmd)) == ["A=x y", "B=it's"] + cmd


def test_secrets_never_enter_a_plan(local_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_" + "a" * 30)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-" + "b" * 30)
    out = tmp_path / "plan.json"
    assert main(["plan", "--profile", "cpu", "--model", str(local_model), "--dataset", str(DATA),
                 "--output", str(out)]) == 0
    text = out.read_text()
    assert "hf_aaaa" not in text and "sk-bbbb" not in text and "HF_TOKEN" not in text
    # A credential passed as an argument is refused, named, and never echoed or written.
    bad = tmp_path / "bad.json"
    rc = main(["plan", "--profile", "cpu", "--model", str(local_model), "--dataset", str(DATA),
               "--output", str(bad), "--set", "hub_token=hf_" + "c" * 30])
    err = capsys.readouterr().err
    assert rc == 2 and "hub_token" in err and "hf_cccc" not in err and not bad.exists()
    with pytest.raises(RlwhfError, match="credential"):
        plan_for(local_model, overrides=["some_flag=sk-" + "d" * 30])


def test_find_secrets_and_redact():
    plan = LaunchPlan(algo="grpo", args={"swanlab_token": "x", "max_new_tokens": 4, "x": "ghp_" + "e" * 30},
                      env={"WANDB_API_KEY": "k"})
    assert find_secrets(plan) == ["argument --swanlab_token", "command element 7", "env WANDB_API_KEY"]
    assert redact("key sk-" + "f" * 30 + " end") == "key *** end"


def test_cli_writes_the_plan_and_prints_the_shell_line(local_model, tmp_path, capsys):
    out = tmp_path / "plans" / "grpo.json"
    assert main(["plan", "--algo", "grpo", "--profile", "cpu", "--model", str(local_model), "--dataset",
                 str(DATA), "--output", str(out), "--output-dir", str(tmp_path / "run"),
                 "--set", "max_steps=4", "--set", "seed=7"]) == 0
    plan = LaunchPlan.load(out)
    printed = capsys.readouterr().out
    assert plan.shell in printed and "profile cpu" in printed
    assert plan.args["max_steps"] == 4 and plan.args["seed"] == 7
    assert plan.output_dir == (tmp_path / "run").resolve()
    assert json.loads(out.read_text())["command"] == plan.command  # the file keeps the argv for people
    # Without --output the plan goes to stdout as JSON.
    assert main(["plan", "--profile", "cpu", "--model", str(local_model), "--dataset", str(DATA)]) == 0
    assert json.loads(capsys.readouterr().out)["profile"] == "cpu"


def test_cli_usage_errors_are_clear(local_model, capsys):
    assert main(["plan", "--profile", "cpu", "--dataset", str(DATA)]) == 2
    assert "--model is required" in capsys.readouterr().err
    assert main(["plan", "--profile", "cpu", "--model", str(local_model), "--dataset", str(DATA),
                 "--set", "novalue"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_docstring_examples_run():
    import doctest

    import rlwhf.plan.build as build

    assert doctest.testmod(build).failed == 0
