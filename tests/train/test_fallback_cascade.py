"""The OOM fallback cascade, step by step: each step is pure, logged, and keeps the plan valid."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlwhf.errors import RlwhfError
from rlwhf.train.fallback import CASCADE, STEP_FUNCTIONS, degrade, fallback_path, load_cascade
from rlwhf.plan import LaunchPlan, PlanConfig, build_plan

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "assets" / "plan_grpo_rows.jsonl"
GPU = {"cuda": {"count": 1, "devices": [{"index": 0, "name": "A10", "memory_gb": 24, "compute_capability": "8.6",
                                         "bf16": True}]}, "npu": {"count": 0}, "mps": {"available": False}}


@pytest.fixture
def gpu_plan(tmp_path) -> LaunchPlan:
    model = tmp_path / "policy"
    model.mkdir()
    (model / "rlwhf_model.json").write_text(json.dumps({"model_type": "qwen2", "template": "chatml"}))
    return build_plan(PlanConfig(model=str(model), dataset=str(DATA), profile="single_gpu",
                                 overrides=["per_device_train_batch_size=8", "gradient_accumulation_steps=1",
                                            "num_generations=8", "max_completion_length=64"]), info=GPU)


def effective(plan: LaunchPlan) -> int:
    return plan.args["per_device_train_batch_size"] * plan.args["gradient_accumulation_steps"]


def test_cascade_order_comes_from_the_json():
    names = [step["name"] for step in json.loads(fallback_path().read_text())["steps"]]
    assert [s.name for s in CASCADE] == names == [
        "halve_batch", "gradient_checkpointing", "fewer_generations", "shorter_completions", "lora", "qlora", "cpu"]
    assert set(names) <= set(STEP_FUNCTIONS)


def test_walk_the_whole_cascade_step_by_step(gpu_plan):
    from rlwhf.plan import validate_plan

    plan = gpu_plan
    frozen = copy.deepcopy(plan)
    seen = []
    while (result := degrade(plan)) is not None:
        new, change = result
        assert new.fallback[-1] == {"step": change.split(":")[0], "change": change}
        assert len(new.fallback) == len(plan.fallback) + 1
        assert validate_plan(new) == [], change
        seen.append((change, new))
        plan = new
    assert gpu_plan == frozen  # every step was pure: the first plan is untouched
    changes = [c for c, _ in seen]
    assert changes == [
        "halve_batch: per_device_train_batch_size 8 -> 4, gradient_accumulation_steps 1 -> 2 (effective batch 8 kept)",
        "halve_batch: per_device_train_batch_size 4 -> 2, gradient_accumulation_steps 2 -> 4 (effective batch 8 kept)",
        "halve_batch: per_device_train_batch_size 2 -> 1, gradient_accumulation_steps 4 -> 8 (effective batch 8 kept)",
        "gradient_checkpointing: gradient_checkpointing on",
        "fewer_generations: num_generations 8 -> 4, gradient_accumulation_steps 8 -> 4 (same prompts per step)",
        "fewer_generations: num_generations 4 -> 2, gradient_accumulation_steps 4 -> 2 (same prompts per step)",
        "shorter_completions: max_completion_length 64 -> 32",
        "shorter_completions: max_completion_length 32 -> 16",
        'lora: tuner_type full -> lora (lora_rank 8, lora_alpha 32, target_modules ["all-linear"])',
        "qlora: QLoRA: quant_method bnb, quant_bits 4, bnb_4bit_quant_type nf4, bnb_4bit_use_double_quant true",
        "cpu: profile single_gpu -> cpu, one process (use_vllm false, torch_dtype float32)",
    ]
    by_step = {c.split(":")[0]: p for c, p in reversed(seen)}  # first plan after each step
    assert all(effective(p) == 8 for c, p in seen if c.startswith("halve_batch"))
    assert by_step["gradient_checkpointing"].args["gradient_checkpointing"] is True
    final = plan
    assert final.profile == "cpu" and final.device == "cpu"
    assert "--quant_bits" not in final.command and "--tuner_type" in final.command
    assert final.args["tuner_type"] == "lora" and final.args["torch_dtype"] == "float32"
    assert final.args["num_generations"] == 2 and final.args["max_completion_length"] == 16
    assert "--max_completion_length" in final.command and "16" in final.command


def test_halve_batch_keeps_the_effective_batch_for_odd_sizes(gpu_plan):
    plan = gpu_plan.with_args({"per_device_train_batch_size": 6, "gradient_accumulation_steps": 2})
    steps = {s.name: s for s in CASCADE}
    plan, change = steps["halve_batch"](plan)
    assert (plan.args["per_device_train_batch_size"], plan.args["gradient_accumulation_steps"]) == (3, 4)
    plan, change = steps["halve_batch"](plan)
    assert (plan.args["per_device_train_batch_size"], plan.args["gradient_accumulation_steps"]) == (1, 12)
    assert steps["halve_batch"](plan) is None  # at the floor: nothing left to halve


def test_steps_that_do_not_apply_return_none(gpu_plan):
    steps = {s.name: s for s in CASCADE}
    dpo = gpu_plan.with_args({"rlhf_type": "dpo"}).replace(algo="dpo")
    assert steps["fewer_generations"](dpo) is None and steps["shorter_completions"](dpo) is None
    assert steps["gradient_checkpointing"](gpu_plan.with_args({"gradient_checkpointing": None})) is None
    assert steps["lora"](gpu_plan.with_args({"tuner_type": "lora"})) is None
    cpu_lora = gpu_plan.with_args({"tuner_type": "lora"}).replace(device="cpu")
    assert steps["qlora"](cpu_lora) is None  # bitsandbytes QLoRA is CUDA only
    assert steps["qlora"](gpu_plan) is None  # needs LoRA first
    cpu_plan = gpu_plan.replace(profile="cpu", env={})
    assert steps["cpu"](cpu_plan) is None


def test_cpu_step_drops_distributed_env(gpu_plan):
    multi = gpu_plan.with_args({"deepspeed": "zero3"}, env={"NPROC_PER_NODE": "8", "NNODES": "2", "NODE_RANK": "0",
                                                            "MASTER_ADDR": "h", "MASTER_PORT": "1"})
    new, change = {s.name: s for s in CASCADE}["cpu"](multi)
    assert not {"NPROC_PER_NODE", "NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"} & set(new.env)
    assert "deepspeed" not in new.args and new.world_size == 1


def test_bad_cascade_file_is_named(tmp_path):
    bad = tmp_path / "fallback.json"
    bad.write_text(json.dumps({"steps": [{"name": "halve_batch"}, {"name": "pray"}]}))
    with pytest.raises(RlwhfError, match=r"fallback.json: step 1: unknown step 'pray'"):
        load_cascade(bad)
    bad.write_text('{"steps": [\n  {"name": }]}')
    with pytest.raises(RlwhfError, match="line 2: not valid JSON"):
        load_cascade(bad)


def test_seed_shim_applies_the_next_step(gpu_plan, tmp_path):
    path = gpu_plan.write(tmp_path / "plan.json")
    out = tmp_path / "plan.degraded.json"
    done = subprocess.run([sys.executable, str(REPO / "plugins" / "core" / "hardware_fallback_cascade.py"),
                           str(path), "--output", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "halve_batch: per_device_train_batch_size 8 -> 4" in done.stdout
    assert json.loads(out.read_text())["args"]["per_device_train_batch_size"] == 4
    listing = subprocess.run([sys.executable, str(REPO / "plugins" / "core" / "hardware_fallback_cascade.py"),
                              "--list"], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and "1. halve_batch" in listing.stdout and "7. cpu" in listing.stdout


def test_cpu_step_uses_the_preset_the_plan_was_built_from(tmp_path):
    import yaml

    from rlwhf.preset import load_preset

    preset = load_preset().to_dict()
    preset["profiles"]["cpu"]["args"] = {**preset["profiles"]["cpu"].get("args", {}), "torch_dtype": "bfloat16",
                                         "dataloader_num_workers": 3}
    path = tmp_path / "my_preset.yaml"
    path.write_text(yaml.safe_dump(preset))
    model = tmp_path / "policy"
    model.mkdir()
    (model / "rlwhf_model.json").write_text(json.dumps({"model_type": "qwen2", "template": "chatml"}))
    plan = build_plan(PlanConfig(model=str(model), dataset=str(DATA), profile="single_gpu", preset=str(path)),
                      info=GPU)
    assert plan.preset == str(path.resolve())
    new, change = {s.name: s for s in CASCADE}["cpu"](plan)
    assert new.args["dataloader_num_workers"] == 3 and new.args["torch_dtype"] == "bfloat16", change
    default = build_plan(PlanConfig(model=str(model), dataset=str(DATA), profile="single_gpu"), info=GPU)
    assert default.preset is None
    new, _ = {s.name: s for s in CASCADE}["cpu"](default)
    assert new.args["torch_dtype"] == "float32" and new.args.get("dataloader_num_workers") != 3
