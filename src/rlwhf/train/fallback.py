"""The out-of-memory fallback cascade: ordered, pure plan -> plan steps read from hardware_fallback.json.

Each step returns `(new_plan, description)` or None when it has nothing left to change (the batch is already
at its minimum, LoRA is already on, ...). `degrade(plan)` applies the first step that changes something and
records it in the plan's `fallback` list, so a retried run says exactly how it differs from the first one.
`rlwhf train` applies one step per out-of-memory failure (`next_step`, which also states the flags that
changed) and retries from the last complete checkpoint.

>>> from rlwhf.plan.launch_plan import LaunchPlan
>>> plan = LaunchPlan(algo="grpo", profile="cpu", device="cpu", args={"model": "m", "dataset": "d.jsonl",
...                   "output_dir": "out", "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1})
>>> new, change = degrade(plan)
>>> change
'halve_batch: per_device_train_batch_size 8 -> 4, gradient_accumulation_steps 1 -> 2 (effective batch 8 kept)'
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rlwhf.config import configs_dir
from rlwhf.errors import RlwhfError
from rlwhf.plan.launch_plan import LaunchPlan
from rlwhf.preset import load_preset

log = logging.getLogger("rlwhf.train")


def fallback_path() -> Path:
    return configs_dir() / "training" / "hardware_fallback.json"


def _largest_divisor_at_most(n: int, limit: int, floor: int = 1) -> int | None:
    for d in range(min(limit, n), floor - 1, -1):
        if d >= 1 and n % d == 0:
            return d
    return None


def halve_batch(plan: LaunchPlan, params: dict):
    """Halve the per-device batch, multiply gradient accumulation to match: the effective batch holds."""
    args = plan.args
    bs = int(args.get("per_device_train_batch_size", 1))
    accum = int(args.get("gradient_accumulation_steps") or 1)
    floor = int(params.get("min_batch_size", 1))
    new_bs = _largest_divisor_at_most(bs, bs // 2, floor) if bs > floor else None
    if new_bs is None:
        return None
    factor = bs // new_bs
    new = plan.with_args(per_device_train_batch_size=new_bs, gradient_accumulation_steps=accum * factor)
    return new, (f"per_device_train_batch_size {bs} -> {new_bs}, gradient_accumulation_steps {accum} -> "
                 f"{accum * factor} (effective batch {bs * accum} kept)")


def gradient_checkpointing(plan: LaunchPlan, params: dict):
    """Turn on activation recomputation (ms-swift's default is on: only an explicit `false` is changed)."""
    if plan.args.get("gradient_checkpointing", True):
        return None
    return plan.with_args(params.get("args") or {"gradient_checkpointing": True}), "gradient_checkpointing on"


def fewer_generations(plan: LaunchPlan, params: dict):
    """GRPO: halve completions per prompt (down to the minimum), keeping the prompts per step."""
    args = plan.args
    if plan.algo != "grpo":
        return None
    ng = int(args.get("num_generations", 8))
    floor = int(params.get("min_generations", 2))
    bs = int(args.get("per_device_train_batch_size", 1))
    accum = int(args.get("gradient_accumulation_steps") or 1)
    generation = bs * accum * plan.world_size
    new_ng = _largest_divisor_at_most(generation, ng // 2, floor) if ng > floor else None
    if new_ng is None:
        return None
    changes: dict = {"num_generations": new_ng}
    ratio = ng // new_ng if ng % new_ng == 0 else 1
    # Fewer completions in flight only saves memory if the batch shrinks with them.
    if ratio > 1 and bs % ratio == 0 and (bs // ratio * accum * plan.world_size) % new_ng == 0:
        changes["per_device_train_batch_size"] = bs // ratio
        what = f", per_device_train_batch_size {bs} -> {bs // ratio} (same prompts per step)"
    elif ratio > 1 and accum % ratio == 0 and (bs * accum // ratio * plan.world_size) % new_ng == 0:
        changes["gradient_accumulation_steps"] = accum // ratio
        what = f", gradient_accumulation_steps {accum} -> {accum // ratio} (same prompts per step)"
    else:
        what = " (more prompts per step)"
    return plan.with_args(changes), f"num_generations {ng} -> {new_ng}{what}"


def shorter_completions(plan: LaunchPlan, params: dict):
    """GRPO: scale max_completion_length down, not below the minimum."""
    if plan.algo != "grpo":
        return None
    length = int(plan.args.get("max_completion_length", 512))
    floor = int(params.get("min_completion_length", 16))
    new_length = max(floor, int(length * float(params.get("factor", 0.5))))
    if new_length >= length:
        return None
    return plan.with_args(max_completion_length=new_length), f"max_completion_length {length} -> {new_length}"


def lora(plan: LaunchPlan, params: dict):
    """Train LoRA adapters instead of every weight (ms-swift's default tuner is already lora)."""
    if plan.args.get("tuner_type", "lora") != "full":
        return None
    changes = params.get("args") or {"tuner_type": "lora"}
    return plan.with_args(changes), "tuner_type full -> lora (" + _describe(changes, skip="tuner_type") + ")"


def qlora(plan: LaunchPlan, params: dict):
    """4-bit base weights under LoRA: only where bitsandbytes runs (CUDA)."""
    if plan.device not in params.get("devices", ["cuda"]):
        return None
    if any(plan.args.get(k, "lora" if k == "tuner_type" else None) != v
           for k, v in (params.get("requires_args") or {}).items()):
        return None
    if plan.args.get("quant_bits"):
        return None
    changes = params.get("args") or {}
    return plan.with_args(changes), "QLoRA: " + _describe(changes)


def cpu(plan: LaunchPlan, params: dict):
    """Last resort: one process with the CPU profile."""
    target = params.get("profile", "cpu")
    if plan.profile == target and plan.world_size == 1:
        return None
    # The preset the plan was built from (`rlwhf plan --preset`), not the default one.
    profile = load_preset(plan.preset).profiles.get(target)
    if profile is None:
        raise RlwhfError(f"preset {plan.preset or '(default)'}: no profile {target!r} for the cascade's last step")
    changes: dict[str, Any] = {key: None for key in params.get("drop_args", [])}
    changes.update(profile.args)
    env: dict[str, Any] = {key: None for key in params.get("drop_env", [])}
    env.update(profile.env)
    new = plan.with_args(changes, env=env).replace(profile=target, node_profile=target, device=profile.device)
    return new, f"profile {plan.profile} -> {target}, one process (" + _describe(profile.args) + ")"


def _describe(changes: dict, skip: str = "") -> str:
    return ", ".join(f"{k} {json.dumps(v) if not isinstance(v, str) else v}" for k, v in changes.items() if k != skip)


STEP_FUNCTIONS: dict[str, Callable] = {
    "halve_batch": halve_batch,
    "gradient_checkpointing": gradient_checkpointing,
    "fewer_generations": fewer_generations,
    "shorter_completions": shorter_completions,
    "lora": lora,
    "qlora": qlora,
    "cpu": cpu,
}


@dataclass(frozen=True)
class FallbackStep:
    """One degrade step: `step(plan)` -> (new plan with the change recorded in `fallback`, description) | None.

    A named step runs `STEP_FUNCTIONS[name]` with the JSON's `params`; `fn` is a custom step (a library
    caller's `train(cfg, cascade=[...])`) taking a LaunchPlan and returning a new one (`plan.with_args(...)`),
    a (plan, description) pair or None.
    """

    name: str
    params: dict = field(default_factory=dict, hash=False, compare=False)
    fn: Callable[[LaunchPlan], Any] | None = field(default=None, hash=False, compare=False)

    def __call__(self, plan: LaunchPlan):
        result = self.fn(plan) if self.fn is not None else STEP_FUNCTIONS[self.name](plan, self.params)
        if isinstance(result, LaunchPlan):
            result = (result, "")
        if not isinstance(result, tuple):
            return None
        new, change = result[0], str(result[1])
        if not isinstance(new, LaunchPlan):
            raise RlwhfError(f"fallback step {self.name}: returned a {type(new).__name__}, not a LaunchPlan "
                             "(make the new plan with plan.with_args(...))")
        change = f"{self.name}: {change}" if change else ""
        new = new.replace(fallback=[*plan.fallback, {"step": self.name, "change": change or self.name}])
        log.debug("fallback %s", change)  # `rlwhf train` logs the step with the flags it changed
        return new, change


def as_step(obj: Any) -> FallbackStep:
    """Accept a FallbackStep, a function, a (name, function) pair, or an object with `name` and `apply`."""
    if isinstance(obj, FallbackStep):
        return obj
    if isinstance(obj, tuple) and len(obj) == 2 and callable(obj[1]):
        return FallbackStep(str(obj[0]), fn=obj[1])
    if hasattr(obj, "apply") and callable(obj.apply):
        return FallbackStep(str(getattr(obj, "name", type(obj).__name__)), fn=obj.apply)
    if callable(obj):
        return FallbackStep(str(getattr(obj, "name", None) or getattr(obj, "__name__", repr(obj))), fn=obj)
    raise TypeError(f"not a cascade step: {obj!r}")


def load_cascade(path: str | Path | None = None) -> list[FallbackStep]:
    """The ordered steps of hardware_fallback.json (every name must be a known step)."""
    path = Path(path) if path else fallback_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RlwhfError(f"{path}: fallback cascade not found") from None
    except json.JSONDecodeError as exc:
        raise RlwhfError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, list) or not steps:
        raise RlwhfError(f"{path}: expected {{\"steps\": [...]}} with at least one step")
    cascade = []
    for i, item in enumerate(steps):
        name = item.get("name") if isinstance(item, dict) else None
        if name not in STEP_FUNCTIONS:
            raise RlwhfError(f"{path}: step {i}: unknown step {name!r} (known: {', '.join(STEP_FUNCTIONS)})")
        cascade.append(FallbackStep(name, {k: v for k, v in item.items() if k not in ("name", "help")}))
    return cascade


def degrade(plan: LaunchPlan, cascade: list[FallbackStep] | None = None):
    """Apply the first cascade step that changes `plan`: (new plan, description), or None when exhausted."""
    for step in cascade if cascade is not None else load_cascade():
        result = step(plan)
        if result is not None:
            return result
    return None


@dataclass
class Applied:
    """A step `next_step` applied: the new plan and what changed in it."""

    index: int
    name: str
    plan: LaunchPlan
    changes: list[str]  # computed from the two plans: "--flag: old -> new"
    description: str  # the step's own account, when it gives one
    skipped: list[str]


def next_step(plan: LaunchPlan, steps: list[FallbackStep]) -> Applied | None:
    """The first step that changes `plan`'s flags or env, applied; None when the cascade is exhausted.

    Each out-of-memory failure applies the first step that still changes the plan (so "halve the batch"
    repeats until the batch is at its floor, then the next step applies); a step that changes nothing for
    this plan is passed over. The change made is computed from the two plans, so the log states it
    whatever the step reports about itself.
    """
    skipped = []
    for index, step in enumerate(steps):
        try:
            result = step(plan)
        except (RlwhfError, ValueError) as exc:  # a step that refuses this plan (e.g. QLoRA without CUDA)
            skipped.append(f"{step.name}: {exc}")
            continue
        if result is None:
            skipped.append(f"{step.name}: not applicable")
            continue
        new, description = result
        changes = new.changes_since(plan)
        if changes:
            return Applied(index, step.name, new, changes, description, skipped)
        skipped.append(f"{step.name}: no change for this plan")
    return None


def __getattr__(name: str):
    # `CASCADE` is read from the JSON on first use, so a broken file fails the caller, not the import.
    if name == "CASCADE":
        return load_cascade()
    raise AttributeError(name)
