"""The out-of-memory fallback: the ordered cascade of `rlwhf.hardware.CASCADE`, one step per failure.

Each out-of-memory failure applies the first step that still changes the plan (so "halve the batch"
repeats until the batch is at its floor, then the next step applies). A step that changes nothing
for this plan is passed over. The change actually made is computed from the two plans, so the log
states it whatever the step reports about itself."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

from rlwhf.errors import RlwhfError
from rlwhf.train.bundle import plan_changes, sync_command


@dataclass
class Step:
    name: str
    apply: Callable[[dict], Any]


@dataclass
class Applied:
    index: int
    name: str
    plan: dict
    changes: list[str]  # computed: "--flag: old -> new"
    description: str  # the step's own account, when it gives one
    skipped: list[str]


def as_step(obj: Any) -> Step:
    """Accept a function, a (name, function) pair, or an object with `name` and `apply`."""
    if isinstance(obj, Step):
        return obj
    if isinstance(obj, tuple) and len(obj) == 2 and callable(obj[1]):
        return Step(str(obj[0]), obj[1])
    if hasattr(obj, "apply") and callable(obj.apply):
        return Step(str(getattr(obj, "name", type(obj).__name__)), obj.apply)
    if callable(obj):
        return Step(str(getattr(obj, "name", None) or getattr(obj, "__name__", repr(obj))), obj)
    raise TypeError(f"not a cascade step: {obj!r}")


def load_cascade() -> list[Step]:
    """`rlwhf.hardware.CASCADE` as Steps."""
    try:
        from rlwhf.hardware import CASCADE
    except ImportError as exc:
        raise RlwhfError(f"the fallback cascade is not available (rlwhf.hardware.CASCADE: {exc})") from None
    return [as_step(s) for s in CASCADE]


def next_step(plan: dict, steps: list[Step]) -> Applied | None:
    """The first step that changes `plan`, applied; None when the cascade is exhausted."""
    skipped = []
    for index, step in enumerate(steps):
        try:
            result = step.apply(copy.deepcopy(plan))
        except (RlwhfError, ValueError) as exc:  # a step that refuses this plan (e.g. QLoRA without CUDA)
            skipped.append(f"{step.name}: {exc}")
            continue
        description = ""
        if isinstance(result, tuple):  # (plan, what-it-changed)
            result, description = result[0], str(result[1])
        if not isinstance(result, dict):
            skipped.append(f"{step.name}: not applicable")
            continue
        new = sync_command(plan, result)
        changes = plan_changes(plan, new)
        if changes:
            return Applied(index, step.name, new, changes, description, skipped)
        skipped.append(f"{step.name}: no change for this plan")
    return None
