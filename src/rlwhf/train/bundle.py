"""Reading and editing launch plans (the JSON `rlwhf plan` writes).

A plan carries the argv (`command`) and, beside it, the same flags as a dict (`args`). The two must
agree: when a fallback step edits one, `sync_command` carries the edit over to the other.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from rlwhf.errors import RlwhfError
from rlwhf.plan.build import format_value as render_value  # one rendering of flag values: the plan's

ALGOS = ("grpo", "dpo")


def load_plan(path: str | Path) -> dict:
    """Read and shape-check a plan file; fills `args` from `command` when the plan has none."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RlwhfError(f"{path}: plan file not found") from None
    except OSError as exc:
        raise RlwhfError(f"{path}: cannot read the plan: {exc.strerror}") from None
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RlwhfError(f"{path}:{exc.lineno}: the plan is not valid JSON ({exc.msg})") from None
    problems = check_plan(plan)
    if problems:
        raise RlwhfError(f"{path}: not a usable plan: " + "; ".join(problems))
    plan = copy.deepcopy(plan)
    plan["args"] = merged_args(plan)
    plan.setdefault("algo", str(plan["args"].get("rlhf_type", "grpo")))
    return plan


def check_plan(plan: Any) -> list[str]:
    """Shape problems of a plan (empty when usable). ms-swift's own argument check is `rlwhf plan --validate`."""
    if not isinstance(plan, dict):
        return ["the plan must be a JSON object"]
    problems = []
    command = plan.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        problems.append("`command` must be a non-empty list of strings")
    env = plan.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        problems.append("`env` must map names to string values")
    if "args" in plan and not isinstance(plan["args"], dict):
        problems.append("`args` must be an object")
    if problems:
        return problems
    args = merged_args(plan)
    algo = plan.get("algo", args.get("rlhf_type", "grpo"))
    if algo not in ALGOS:
        problems.append(f"`algo` must be one of {', '.join(ALGOS)}, got {algo!r}")
    if not (plan.get("output_dir") or args.get("output_dir")):
        problems.append("no output_dir (neither the plan's `output_dir` nor `--output_dir` in its command)")
    if not (plan.get("model") or args.get("model")):
        problems.append("no model (neither the plan's `model` nor `--model` in its command)")
    if not (plan.get("dataset") or args.get("dataset")):
        problems.append("no dataset (neither the plan's `dataset` nor `--dataset` in its command)")
    return problems


def merged_args(plan: dict) -> dict:
    """The plan's flags as {key: value}: the argv is what runs, so it wins where the two disagree;
    `args`' typed values are kept where they render to the same tokens."""
    flags = parse_flags(plan["command"])
    typed = {_key(k): v for k, v in (plan.get("args") or {}).items()}
    merged = dict(typed)
    for key, value in flags.items():
        if key not in typed or _norm(typed[key]) != _norm(value):
            merged[key] = value
    return merged


def _key(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_") if flag.startswith("--") else flag


def parse_flags(command: list[str]) -> dict:
    """`--key value [value ...]` pairs of an argv as {key: value-or-list}; the program and its
    sub-command (`swift rlhf`) before the first flag are skipped.

    >>> parse_flags(["swift", "rlhf", "--max_steps", "4", "--reward_funcs", "a", "b", "--top_k", "-1"])
    {'max_steps': '4', 'reward_funcs': ['a', 'b'], 'top_k': '-1'}
    """
    flags: dict[str, Any] = {}
    key = None
    for token in command:
        if token.startswith("--") and len(token) > 2:
            name, eq, value = token[2:].partition("=")
            key = name.replace("-", "_")
            flags[key] = value if eq else []
            if eq:
                key = None
        elif key is not None:
            flags[key].append(token)
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 else ("true" if v == [] else v))
            for k, v in flags.items()}


def set_flag(command: list[str], key: str, value: Any) -> list[str]:
    """A copy of `command` with `--key` set to `value` (replaced in place, or appended); None removes it."""
    out: list[str] = []
    i, found = 0, False
    while i < len(command):
        token = command[i]
        if token.startswith("--") and token[2:].partition("=")[0].replace("-", "_") == key:
            found = True
            i += 1
            if "=" not in token:
                while i < len(command) and not command[i].startswith("--"):
                    i += 1
            if value is not None:
                out += [f"--{key}", *render_value(value)]
            continue
        out.append(token)
        i += 1
    if not found and value is not None:
        out += [f"--{key}", *render_value(value)]
    return out


def _norm(value: Any) -> Any:
    """Compare flag values as ms-swift would see them on the command line."""
    tokens = render_value(value)
    return tokens[0] if len(tokens) == 1 else tokens


def sync_command(old: dict, new: dict) -> dict:
    """Make `new`'s argv and `args` agree after a plan -> plan step edited either of them.

    Flags whose value changed in `args` are written into the argv; flags only the argv changed
    are read back into `args`.
    """
    new = copy.deepcopy(new)
    new_args = {_key(k): v for k, v in (new.get("args") or {}).items()}
    old_args = {_key(k): v for k, v in (old.get("args") or {}).items()}
    command = list(new["command"])
    for key in set(old_args) | set(new_args):
        if key not in new_args:
            command = set_flag(command, key, None)
        elif key not in old_args or _norm(old_args[key]) != _norm(new_args[key]):
            command = set_flag(command, key, new_args[key])
    new["command"] = command
    new["args"] = {**parse_flags(command), **new_args}
    return new


def plan_changes(old: dict, new: dict) -> list[str]:
    """Human-readable differences between two plans' flags and env ("--key: a -> b")."""
    changes = []
    old_flags, new_flags = parse_flags(old["command"]), parse_flags(new["command"])
    for key in sorted(set(old_flags) | set(new_flags)):
        a, b = old_flags.get(key), new_flags.get(key)
        if a != b:
            changes.append(f"--{key}: {_show(a)} -> {_show(b)}")
    old_env, new_env = old.get("env") or {}, new.get("env") or {}
    for key in sorted(set(old_env) | set(new_env)):
        if old_env.get(key) != new_env.get(key):
            changes.append(f"env {key}: {_show(old_env.get(key))} -> {_show(new_env.get(key))}")
    return changes


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    return " ".join(value) if isinstance(value, list) else str(value)


def output_dir(plan: dict) -> Path:
    return Path(plan.get("args", {}).get("output_dir") or plan["output_dir"])


def model_path(plan: dict) -> str:
    return str(plan.get("args", {}).get("model") or plan["model"])


def max_steps(plan: dict) -> int | None:
    value = plan.get("args", {}).get("max_steps")
    try:
        return int(value) if value is not None and int(value) > 0 else None
    except (TypeError, ValueError):
        return None
