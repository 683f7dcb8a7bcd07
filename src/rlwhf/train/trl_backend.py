"""TRL backend: the plan's GRPO / DPO run with TRL's GRPOTrainer / DPOTrainer (trl 0.29).

The supervisor runs this module as its own process (`python -m rlwhf.train.trl_backend`), like
the ms-swift command, so the RSS cap, a kernel OOM kill and SIGKILL-then-resume are handled the
same way for both backends. `run_trl(plan, run_dir)` is the in-process entry point.

The plan's ms-swift flags map onto GRPOConfig / DPOConfig by name; flags that only mean something
to ms-swift are consumed here (model, dataset, tuner, reward functions) and anything left that TRL
has no field for is listed in `run_dir/trl_ignored_args.json` and the log, never dropped silently.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import os
import sys
import time
import typing
from pathlib import Path
from typing import Any

from rlwhf.config import parse_value
from rlwhf.errors import RlwhfError
from rlwhf.plan.launch_plan import LaunchPlan
from rlwhf.preset import HONESTY_ORM, TEACHER_ORM

# Flags consumed by this module (not TRL config fields) or meaningless outside ms-swift.
SWIFT_ONLY = {
    "rlhf_type", "model", "model_type", "template", "check_model", "dataset", "external_plugins",
    "reward_funcs", "tuner_type", "torch_dtype", "lora_rank", "lora_alpha", "lora_dropout", "target_modules",
    "output_dir", "add_version", "resume_from_checkpoint", "use_cpu", "system", "split_dataset_ratio",
    "load_from_cache_file", "dataset_shuffle", "streaming", "attn_impl",
}
# ms-swift reward names with a TRL counterpart; anything else may be given as "module:function".
REWARD_FUNCS = {HONESTY_ORM: "rlwhf.integrations.trl:honesty_reward",
                TEACHER_ORM: "rlwhf.integrations.trl:teacher_reward"}


def config_kwargs(args: dict, config_cls: type) -> tuple[dict, dict]:
    """(kwargs for `config_cls`, {flag: value} that TRL has no field for)."""
    hints = typing.get_type_hints(config_cls)
    fields = {f.name for f in dataclasses.fields(config_cls) if f.init}
    kwargs, ignored = {}, {}
    for key, value in args.items():
        if key in SWIFT_ONLY:
            continue
        if key not in fields:
            ignored[key] = value
            continue
        try:
            kwargs[key] = parse_value(value, hints.get(key, str))
        except (TypeError, ValueError) as exc:
            raise RlwhfError(f"--{key} {value!r}: not a valid {config_cls.__name__} value ({exc})") from None
    return kwargs, ignored


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _load_rows(paths: list[str]) -> list[tuple[str, dict]]:
    from rlwhf.data.io import iter_objects

    rows = []
    for spec in paths:
        if not Path(spec).is_file():
            raise RlwhfError(f"{spec}: the TRL backend reads local JSONL files only (no hub datasets or "
                             "`path#N` sampling: use the swift backend for those)")
        rows.extend(iter_objects(spec))
    return rows


def _user_turns(messages: Any, where: str) -> list[dict]:
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise RlwhfError(f"{where}: `messages` must be a non-empty list of {{role, content}} objects")
    turns = list(messages)
    while turns and turns[-1].get("role") == "assistant":
        turns.pop()
    if not turns:
        raise RlwhfError(f"{where}: `messages` has no user turn")
    return turns


def grpo_rows(paths: list[str]) -> list[dict]:
    """ms-swift GRPO rows ({"messages": [user], extra columns}) as TRL rows ({"prompt": [user], ...});
    rows that already have `prompt` pass through. Extra columns reach the reward function."""
    out = []
    for where, row in _load_rows(paths):
        row = dict(row)
        if "prompt" in row:
            if isinstance(row["prompt"], str):
                row["prompt"] = [{"role": "user", "content": row["prompt"]}]
        elif "messages" in row:
            row["prompt"] = _user_turns(row.pop("messages"), where)
        else:
            raise RlwhfError(f"{where}: a GRPO row needs `messages` (ms-swift) or `prompt` (TRL)")
        out.append(row)
    return out


def dpo_rows(paths: list[str]) -> list[dict]:
    """ms-swift DPO rows ({"messages": [user, assistant=chosen], "rejected_response"}) as TRL
    conversational preference rows; prompt/chosen/rejected rows are accepted too (plain strings are
    made conversational: the policy is a chat model and trains on its chat template)."""
    out = []
    for where, row in _load_rows(paths):
        messages, rejected = row.get("messages"), row.get("rejected_response")
        if isinstance(messages, list) and messages and isinstance(rejected, str):
            if not isinstance(messages[-1], dict) or messages[-1].get("role") != "assistant":
                raise RlwhfError(f"{where}: `messages` must end with the chosen assistant turn")
            out.append({
                "prompt": _user_turns(messages[:-1], where),
                "chosen": [messages[-1]],
                "rejected": [{"role": "assistant", "content": rejected}],
            })
        elif {"prompt", "chosen", "rejected"} <= set(row):
            out.append({
                "prompt": _turns(row["prompt"], "user", where),
                "chosen": _turns(row["chosen"], "assistant", where),
                "rejected": _turns(row["rejected"], "assistant", where),
            })
        else:
            raise RlwhfError(f"{where}: a DPO row needs `messages` ending with the chosen assistant turn and "
                             "`rejected_response` (ms-swift), or prompt/chosen/rejected (TRL)")
    return out


def _turns(value: Any, role: str, where: str) -> list[dict]:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        return value
    raise RlwhfError(f"{where}: expected a string or a list of {{role, content}} messages, got {type(value).__name__}")


def resolve_reward(name: str):
    """A reward function from a registered name, `module:function`, or `file.py:function`."""
    target = REWARD_FUNCS.get(name, name)
    if ":" not in target:
        raise RlwhfError(f"reward function {name!r} has no TRL counterpart: known {sorted(REWARD_FUNCS)}, or "
                         "give `module:function` / `path/to/file.py:function`")
    module_name, _, attr = target.rpartition(":")
    if module_name.endswith(".py"):
        module = _import_file(module_name)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise RlwhfError(f"reward function {name!r}: cannot import {module_name} ({exc})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise RlwhfError(f"reward function {name!r}: {module_name} has no {attr}") from None


def _import_file(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    if spec is None or not Path(path).is_file():
        raise RlwhfError(f"{path}: plugin file not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_plugins(paths: list[str]) -> None:
    """Import the plan's `--external_plugins` (they may define reward functions or patch the model);
    rlwhf's own ms-swift ORM file is skipped: TRL uses `honesty_reward` directly."""
    own = None
    try:
        from rlwhf.reward import plugin_path

        own = Path(plugin_path()).resolve()
    except ImportError:
        pass
    for path in paths:
        if own is not None and Path(path).resolve() == own:
            continue
        _import_file(path)


def lora_config(args: dict):
    """peft LoraConfig from ms-swift's LoRA flags (its defaults: rank 8, alpha 32, all linear layers);
    None for full fine-tuning."""
    tuner = str(args.get("tuner_type", "full"))
    if tuner == "full":
        return None
    if tuner != "lora":
        raise RlwhfError(f"the TRL backend supports --tuner_type full or lora, not {tuner!r}")
    from peft import LoraConfig

    targets = _as_list(args.get("target_modules", "all-linear"))
    return LoraConfig(
        r=int(args.get("lora_rank", 8)), lora_alpha=int(args.get("lora_alpha", 32)),
        lora_dropout=float(args.get("lora_dropout", 0.05)), task_type="CAUSAL_LM",
        # ms-swift writes "all-linear" as a one-element list; peft wants the bare string for it.
        target_modules="all-linear" if targets == ["all-linear"] else targets,
    )


def _step_logger(run_dir: Path, max_steps: int):
    """A TrainerCallback writing ms-swift-style `logging.jsonl` lines, so one reader serves both backends."""
    from transformers import TrainerCallback

    from rlwhf.data.io import append_jsonl

    class JsonlLogger(TrainerCallback):
        def __init__(self):
            self.path = run_dir / "logging.jsonl"
            self._step_start = None
            self._last_step_time = None

        def on_step_begin(self, args, state, control, **kwargs):
            self._step_start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self._step_start is not None:
                self._last_step_time = time.perf_counter() - self._step_start

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            record = dict(logs)
            if "loss" in record or "reward" in record:
                record.setdefault("step_time", self._last_step_time)
                record["global_step/max_steps"] = f"{state.global_step}/{state.max_steps or max_steps}"
            append_jsonl(self.path, record, default=float)

    return JsonlLogger()


def run_trl(plan: LaunchPlan, run_dir: str | Path, resume_from: str | None = None) -> str:
    """Train the plan with TRL in this process; returns the last checkpoint's path."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    args = dict(plan.args)
    algo = plan.algo
    load_plugins(_as_list(args.get("external_plugins")))

    # Setup: config, model, tokenizer, data.
    if algo == "grpo":
        from trl import GRPOConfig as ConfigCls, GRPOTrainer as TrainerCls
    elif algo == "dpo":
        from trl import DPOConfig as ConfigCls, DPOTrainer as TrainerCls
    else:
        raise RlwhfError(f"the TRL backend runs grpo or dpo, not {algo!r}")
    kwargs, ignored = config_kwargs(args, ConfigCls)
    if ignored:
        print(f"[rlwhf] TRL has no field for these plan flags, not applied: {sorted(ignored)}", flush=True)
    (run_dir / "trl_ignored_args.json").write_text(json.dumps(ignored, indent=2) + "\n", encoding="utf-8")
    cuda = torch.cuda.is_available()
    dtype_name = str(args.get("torch_dtype") or ("bfloat16" if cuda else "float32"))
    dtype = getattr(torch, dtype_name)
    kwargs.update(output_dir=str(run_dir), use_cpu=not cuda)
    kwargs.setdefault("bf16", cuda and dtype is torch.bfloat16)
    kwargs.setdefault("fp16", cuda and dtype is torch.float16)
    kwargs.setdefault("report_to", "none")
    config = ConfigCls(**kwargs)
    (run_dir / "trl_config.json").write_text(config.to_json_string(), encoding="utf-8")

    model_dir = plan.model
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    peft_config = lora_config(args)

    datasets = [str(d) for d in _as_list(args.get("dataset"))]
    rows = grpo_rows(datasets) if algo == "grpo" else dpo_rows(datasets)
    if not rows:
        raise RlwhfError(f"{', '.join(datasets)}: no training rows")
    train_dataset = Dataset.from_list(rows)

    trainer_kwargs = dict(model=model, args=config, train_dataset=train_dataset, processing_class=tokenizer,
                          peft_config=peft_config, callbacks=[_step_logger(run_dir, plan.max_steps or 0)])
    if algo == "grpo":
        # the teacher reward's per-step counters land beside logging.jsonl, where `rlwhf train` reads them
        os.environ.setdefault("RLWHF_TEACHER_TELEMETRY_DIR", str(run_dir))
        names = _as_list(args.get("reward_funcs")) or [HONESTY_ORM]
        trainer_kwargs["reward_funcs"] = [resolve_reward(str(n)) for n in names]
    from rlwhf.integrations.trl import restore_transformers_callbacks

    restore_transformers_callbacks()  # the ms-swift plugin (or plan validation) may have imported swift
    trainer = TrainerCls(**trainer_kwargs)

    # Train.
    if resume_from:
        print(f"[rlwhf] resuming from {resume_from}", flush=True)
    trainer.train(resume_from_checkpoint=resume_from)

    # Cleanup: make sure the final weights are a checkpoint even when max_steps is off the save grid.
    last = run_dir / f"checkpoint-{trainer.state.global_step}"
    if not (last / "trainer_state.json").is_file():
        trainer._save_checkpoint(trainer.model, trial=None)
    print(f"[rlwhf] last_model_checkpoint: {last}", flush=True)
    return str(last)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlwhf.train.trl_backend", description=__doc__.split("\n")[0])
    parser.add_argument("--plan", required=True, help="the attempt's plan JSON")
    parser.add_argument("--run-dir", required=True, help="folder for checkpoints and logging.jsonl")
    parser.add_argument("--resume-from", default=None, help="checkpoint to resume from")
    ns = parser.parse_args(argv)
    try:
        run_trl(LaunchPlan.load(ns.plan), ns.run_dir, ns.resume_from)
    except RlwhfError as exc:
        print(f"rlwhf: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
