"""`LaunchPlan`: one `swift rlhf` run, typed. Its `args` (swift argument -> value, in order) and `env` are the
source; the argv (`command`), the shell line and the top-level copies a plan file shows (`output_dir`, `model`,
`dataset`, `world_size`) are rendered from them, never stored and edited beside them.

One reader (`LaunchPlan.load`), one writer (`write`). The file keeps `command` and `shell` for people and
for tools that run them; when a file is read, `args` is the source and a `command`, `shell` or copy that
disagrees with it is an error naming the flag, not merged (on disk an edited `args` and an edited `command`
look alike; to change a plan by hand, change `args` and delete `command` and `shell`). A file with a `command`
and no `args` (hand-written) takes its flags from the command.

>>> plan = LaunchPlan(algo="grpo", args={"model": "m", "dataset": "d.jsonl", "output_dir": "out", "max_steps": 4})
>>> plan.with_args(max_steps=2, use_vllm=False).command
['swift', 'rlhf', '--model', 'm', '--dataset', 'd.jsonl', '--output_dir', 'out', '--max_steps', '2', '--use_vllm', 'false']
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from rlwhf.errors import RlwhfError

LAUNCHER = ["swift", "rlhf"]
ALGOS = ("grpo", "dpo")
# ms-swift keeps its versioned run folders (--add_version true): a retry or a resume never overwrites an
# earlier attempt's logs, and every checkpoint sits one level below output_dir.
CHECKPOINTS = "<output_dir>/v<N>-<timestamp>/checkpoint-<step>"
_RENDERED = ("world_size", "checkpoints", "command", "shell", "output_dir", "model", "dataset")
_REQUIRED_ARGS = ("model", "dataset", "output_dir")


def format_value(value: Any) -> list[str]:
    """argv elements for one swift argument value (bools as true/false, lists spread, dicts as JSON)."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        return [item for v in value for item in format_value(v)]
    if isinstance(value, dict):
        return [json.dumps(value, sort_keys=True)]
    return [str(value)]


def to_argv(args: Mapping[str, Any]) -> list[str]:
    """`swift rlhf` argv for `args` (None values are left out: ms-swift's default applies)."""
    argv = list(LAUNCHER)
    for key, value in args.items():
        if value is None:
            continue
        argv.append(f"--{key}")
        argv.extend(format_value(value))
    return argv


def render_shell(env: Mapping[str, str], command: list[str]) -> str:
    """One POSIX shell line; `shlex.split` of it gives back the KEY=VALUE assignments, then `command`.

    >>> render_shell({"A": "x y"}, ["swift", "rlhf", "--dataset", "my data;.jsonl"])
    "A='x y' swift rlhf --dataset 'my data;.jsonl'"
    """
    assignments = [f"{key}={shlex.quote(str(value))}" for key, value in env.items()]
    return " ".join(assignments + [shlex.join(command)])


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


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    return " ".join(value) if isinstance(value, list) else str(value)


@dataclass(frozen=True)
class LaunchPlan:
    """A launch plan (docs/design.md). Treat `args`, `env`, `notes` and `fallback` as read-only: a changed
    plan is a new one (`with_args`, `replace`)."""

    algo: str
    args: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    backend: str = "swift"
    profile: str | None = None  # the hardware profile (multi_node: the launch's, node_profile: each node's)
    node_profile: str | None = None
    profile_reason: str | None = None
    device: str | None = None  # what the profile trains on (the cascade's QLoRA step needs cuda)
    ms_swift_version: str | None = None  # the ms-swift the plan was made with
    reward_artifact: str | None = None
    preset: str | None = None  # the preset this plan came from (None: the default), for the cascade's CPU step
    notes: list[str] = field(default_factory=list)
    fallback: list[dict] = field(default_factory=list)  # the OOM cascade's steps applied so far

    def __post_init__(self):
        if self.algo not in ALGOS:
            raise RlwhfError(f"plan algo {self.algo!r}: expected one of {', '.join(ALGOS)}")
        if not isinstance(self.args, Mapping) or not all(isinstance(k, str) and k for k in self.args):
            raise RlwhfError("plan `args` must map swift argument names to values")
        if not isinstance(self.env, Mapping):
            raise RlwhfError("plan `env` must map names to string values")
        # Own copies: a plan never shares its mappings with the caller's (or another plan's).
        object.__setattr__(self, "args", copy.deepcopy(dict(self.args)))
        object.__setattr__(self, "env", {str(k): str(v) for k, v in self.env.items()})
        object.__setattr__(self, "notes", list(self.notes))
        object.__setattr__(self, "fallback", copy.deepcopy(list(self.fallback)))

    # -- rendered from args and env ------------------------------------------------------------------
    @property
    def command(self) -> list[str]:
        """The argv that runs: `swift rlhf --key value ...`."""
        return to_argv(self.args)

    @property
    def shell(self) -> str:
        """env assignments + command, quoted for a POSIX shell."""
        return render_shell(self.env, self.command)

    @property
    def output_dir(self) -> Path:
        return Path(self.args["output_dir"])

    @property
    def model(self) -> str:
        return str(self.args["model"])

    @property
    def dataset(self) -> Any:
        return self.args.get("dataset")

    @property
    def world_size(self) -> int:
        """Training processes over all nodes (NPROC_PER_NODE x NNODES)."""
        return int(self.env.get("NPROC_PER_NODE", 1)) * int(self.env.get("NNODES", 1))

    @property
    def max_steps(self) -> int | None:
        value = self.args.get("max_steps")
        try:
            return int(value) if value is not None and int(value) > 0 else None
        except (TypeError, ValueError):
            return None

    # -- new plans from this one ---------------------------------------------------------------------
    def with_args(self, changes: Mapping[str, Any] | None = None, /, *, env: Mapping[str, Any] | None = None,
                  **more: Any) -> "LaunchPlan":
        """A new plan with swift arguments (and env variables) changed; a None value removes one. A changed
        argument keeps its place in the argv, a new one goes last."""
        args = copy.deepcopy(self.args)
        for key, value in {**(changes or {}), **more}.items():
            if value is None:
                args.pop(key, None)
            else:
                args[key] = value
        new_env = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                new_env.pop(key, None)
            else:
                new_env[key] = str(value)
        return dataclasses.replace(self, args=args, env=new_env)

    def replace(self, **fields: Any) -> "LaunchPlan":
        """A new plan with metadata fields changed (profile, device, fallback, ...)."""
        return dataclasses.replace(self, **fields)

    def changes_since(self, old: "LaunchPlan") -> list[str]:
        """What differs from `old`, as a person reads it: "--key: a -> b", "env KEY: a -> b"."""
        changes = []
        old_flags, new_flags = parse_flags(old.command), parse_flags(self.command)
        for key in sorted(set(old_flags) | set(new_flags)):
            a, b = old_flags.get(key), new_flags.get(key)
            if a != b:
                changes.append(f"--{key}: {_show(a)} -> {_show(b)}")
        for key in sorted(set(old.env) | set(self.env)):
            if old.env.get(key) != self.env.get(key):
                changes.append(f"env {key}: {_show(old.env.get(key))} -> {_show(self.env.get(key))}")
        return changes

    # -- the file ------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The plan file's content: the fields, plus the rendered `command`, `shell` and copies for people."""
        return {
            "backend": self.backend, "algo": self.algo, "profile": self.profile, "node_profile": self.node_profile,
            "profile_reason": self.profile_reason, "device": self.device, "world_size": self.world_size,
            "ms_swift_version": self.ms_swift_version, "reward_artifact": self.reward_artifact,
            "preset": self.preset, "checkpoints": CHECKPOINTS, "notes": list(self.notes),
            "args": copy.deepcopy(self.args), "env": dict(self.env), "fallback": copy.deepcopy(self.fallback),
            "command": self.command, "shell": self.shell,
            "output_dir": self.args.get("output_dir"), "model": self.args.get("model"), "dataset": self.dataset,
        }

    def write(self, path: str | Path) -> Path:
        """Write the plan as JSON (parent folders created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LaunchPlan":
        """Read a plan file; every problem is one error naming the file and what is wrong."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RlwhfError(f"{path}: plan not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RlwhfError(f"{path}: unreadable: {getattr(exc, 'strerror', None) or exc}") from None
        except json.JSONDecodeError as exc:
            raise RlwhfError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
        return cls.from_dict(data, where=str(path))

    @classmethod
    def from_dict(cls, data: Any, where: str = "plan") -> "LaunchPlan":
        """A plan from a plan file's content (see the module docstring for what is checked)."""
        def bad(problem: str) -> RlwhfError:
            return RlwhfError(f"{where}: {problem}")

        if not isinstance(data, dict):
            raise bad("a plan is a JSON object")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names) - set(_RENDERED))
        if unknown:
            raise bad(f"unknown key(s) {', '.join(map(repr, unknown))} (a plan has {', '.join(names + list(_RENDERED))})")
        command = data.get("command")
        if command is not None and (not isinstance(command, list) or not command
                                    or not all(isinstance(a, str) for a in command)):
            raise bad("`command` must be a non-empty list of strings")
        if command is not None and command[:len(LAUNCHER)] != LAUNCHER:
            raise bad(f"`command` must start with {' '.join(LAUNCHER)}, got {' '.join(command[:2])!r}")
        args = data.get("args")
        if args is None:
            if command is None:
                raise bad("no `args` (and no `command` to read them from)")
            args = parse_flags(command)
        elif not isinstance(args, dict):
            raise bad("`args` must be an object")
        env = data.get("env") or {}
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise bad("`env` must map names to string values")
        algo = data.get("algo") or str(args.get("rlhf_type", "grpo"))
        if algo not in ALGOS:
            raise bad(f"`algo` must be one of {', '.join(ALGOS)}, got {algo!r}")
        for key in _REQUIRED_ARGS:
            if args.get(key) in (None, ""):
                raise bad(f"no {key} (`args.{key}`, rendered as --{key})")
        for key in ("notes", "fallback"):
            if not isinstance(data.get(key) or [], list):
                raise bad(f"`{key}` must be a list")
        for key in ("backend", "profile", "node_profile", "profile_reason", "device", "ms_swift_version",
                    "reward_artifact", "preset"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise bad(f"`{key}` must be a string or null")
        fields = {k: data[k] for k in names if k in data and data[k] is not None}
        plan = cls(**{**fields, "algo": algo, "args": args, "env": env})
        plan._check_rendered(data, bad)
        return plan

    def _check_rendered(self, data: dict, bad) -> None:
        """A file's `command`, `shell` and copies must be what `args` and `env` render to."""
        if data.get("command") is not None and data.get("args") is not None:
            stored, rendered = parse_flags(data["command"]), parse_flags(self.command)
            for key in list(dict.fromkeys([*rendered, *stored])):
                if stored.get(key) != rendered.get(key):
                    raise bad(f"`command` disagrees with `args` at --{key} (command: {_show(stored.get(key))}, "
                              f"args: {_show(rendered.get(key))}): `args` is the plan's source, `command` and "
                              "`shell` are rendered from it; change `args` and delete `command` and `shell` "
                              "(the next write renders them)")
        if data.get("shell") is not None:
            try:
                same = shlex.split(data["shell"]) == shlex.split(self.shell)
            except (ValueError, AttributeError):
                same = False
            if not same:
                raise bad("`shell` does not match `env` + `args` (it is rendered from them: edit those, "
                          "or drop `shell`)")
        for key in ("output_dir", "model", "dataset"):
            if data.get(key) is not None and data[key] != self.args.get(key):
                raise bad(f"`{key}` {data[key]!r} disagrees with `args.{key}` {self.args.get(key)!r} "
                          f"(`args` is the plan's source)")
        if data.get("world_size") is not None and data["world_size"] != self.world_size:
            raise bad(f"`world_size` {data['world_size']!r} disagrees with env NPROC_PER_NODE x NNODES "
                      f"({self.world_size})")


__all__ = ["LaunchPlan", "LAUNCHER", "CHECKPOINTS", "format_value", "to_argv", "render_shell", "parse_flags"]
