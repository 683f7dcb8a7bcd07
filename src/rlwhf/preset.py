"""The preset (configs/transformer-lab/grpo_config.yaml), typed: every section a dataclass, loaded once.

`load_preset(path)` reads the YAML and checks it against the dataclasses below: an unknown key or a value of
the wrong type is a one-line error naming the file and the key path
(`grpo_config.yaml: profiles.cpu.nproc_per_node: expected an int or "auto", got 'two'`). The defaults the
code falls back on when the YAML says nothing live here, once (the `DEFAULT_*` constants and field defaults).

The algorithm sections (`grpo`, `dpo`) are ordered mappings of `swift rlhf` arguments: which names ms-swift
accepts is ms-swift's business (`rlwhf plan --validate`), so they are checked for shape, not for names.

>>> p = load_preset()
>>> p.profiles["multi_node"].nnodes, p.profiles["cpu"].nproc_per_node, p.algo("grpo").args["rlhf_type"]
(2, 1, 'grpo')
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rlwhf.config import MAX_STEPS_ENV, configs_dir
from rlwhf.errors import RlwhfError

# ms-swift ORM names the reward plugin registers (`--reward_funcs`), and TRL's names for the same rewards.
HONESTY_ORM = "rlwhf_honesty"  # the local honesty judge / learned reward
TEACHER_ORM = "rlwhf_teacher"  # every completion graded live by the teacher (source teacher / hybrid)

# What the code assumes where the preset says nothing.
DEFAULT_NNODES = 2  # multi_node without --nnodes
DEFAULT_MASTER_PORT = 29500  # torchrun's own default rendezvous port
DEFAULT_ASSUMED_DEVICES = 2  # nproc_per_node auto, planned on a machine that shows no accelerator
DEFAULT_OUTPUT_DIR = "workspace/runs/{algo}"  # an algorithm section without output_dir
ALGOS = ("grpo", "dpo")
PRESET_VERSION = 1


def default_preset_path() -> Path:
    return configs_dir() / "transformer-lab" / "grpo_config.yaml"


@dataclass(frozen=True)
class DataSection:
    """Paths of the data pipeline (relative to the working directory); the seed scripts' defaults."""

    raw_logs: str | None = None  # upstream graded honesty logs: data_quality_gate.py, custom_honesty_rm
    clean: str | None = None  # data gate: valid rows (data_quality_gate.py)
    quarantine: str | None = None  # data gate: invalid rows with the rule they broke
    gate_report: str | None = None  # data gate: the JSON report
    processed: str | None = None  # preprocess output, `swift rlhf` rows: `rlwhf plan`'s default --dataset
    format: str = "swift-grpo"  # preprocess --format of ms_swift_preprocess.py


@dataclass(frozen=True)
class TeacherSection:
    """Defaults of the --teacher-* flags (None: TeacherRewardConfig's own default). Never the API key:
    `api_key_env` names the variable that holds it."""

    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    fallback: Literal["stop", "judge"] | None = None
    concurrency: int | None = None
    timeout: float | None = None
    max_retries: int | None = None
    max_requests: int | None = None
    max_tokens: int | None = None
    price_per_million_tokens: float | None = None

    def given(self) -> dict:
        """The fields the preset sets."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class RewardSection:
    name: str = HONESTY_ORM  # the ORM `rlwhf plan` puts in --reward_funcs for source judge
    artifact_dir: str | None = None  # where custom_honesty_rm builds the artifact
    artifact: str | None = None  # the artifact `rlwhf plan` passes when the file exists
    source: Literal["judge", "hybrid", "teacher"] | None = None  # the --reward default (None: judge)
    teacher: TeacherSection = field(default_factory=TeacherSection)
    # GRPO reward shaping (rlwhf.reward.shaping; checked there): outcome_rewards and/or abstain_difficulty.
    # Off when absent; $RLWHF_REWARD_SHAPING (JSON) overrides it.
    shaping: dict[str, Any] | None = None


@dataclass(frozen=True)
class AlgoSection:
    """One algorithm's `swift rlhf` arguments, in the YAML's order (each key is passed as --key value)."""

    name: str
    args: dict[str, Any]

    @property
    def rlhf_type(self) -> str:
        return str(self.args.get("rlhf_type", self.name))

    @property
    def output_dir(self) -> str:
        return str(self.args.get("output_dir") or DEFAULT_OUTPUT_DIR.format(algo=self.name))

    @property
    def max_steps(self) -> int | None:
        value = self.args.get("max_steps")
        return int(value) if value is not None else None

    def int_arg(self, key: str) -> int:
        """A whole-number argument the caller needs (an error naming it when the section lacks it)."""
        value = self.args.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise RlwhfError(f"preset `{self.name}.{key}`: expected a whole number, got {value!r}")
        return value


@dataclass(frozen=True)
class LaunchSection:
    """`rlwhf launch`'s own numbers. On a CPU it caps GRPO steps so the whole loop fits --max-minutes:
    (max_minutes*60 - cpu_reserved_seconds) / cpu_seconds_per_step. `chord_mu`: CHORD's SFT share of GRPO's
    loss when --chord-mu is not given (GRPO on ms-swift only; None: plain GRPO)."""

    cpu_seconds_per_step: float
    cpu_reserved_seconds: float
    chord_mu: float | None = None

    def affordable_steps(self, max_minutes: float) -> int:
        return int((max_minutes * 60 - self.cpu_reserved_seconds) / self.cpu_seconds_per_step)


@dataclass(frozen=True)
class Profile:
    """A hardware profile: what it adds to the algorithm's arguments (order: args, multi_process_args when
    more than one process, multi_node_args when more than one node, vllm_args for GRPO with vllm installed),
    its env, and how many processes it runs."""

    device: str = "cpu"
    nproc_per_node: int | Literal["auto"] = 1  # auto: every visible accelerator, else assumed_devices
    assumed_devices: int = DEFAULT_ASSUMED_DEVICES
    args: dict[str, Any] = field(default_factory=dict)
    multi_process_args: dict[str, Any] = field(default_factory=dict)
    multi_node_args: dict[str, Any] = field(default_factory=dict)
    vllm_args: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    unsloth_env: dict[str, str] = field(default_factory=dict)  # when unsloth and vllm are both installed
    no_bf16_dtype: str | None = None  # torch_dtype instead of bfloat16 on a GPU without bf16
    # multi_node only: every node runs the same plan, only NODE_RANK differs (docs/multi-node.md).
    node_profile: str = "auto"  # what each node runs
    nnodes: int = DEFAULT_NNODES
    master_port: int = DEFAULT_MASTER_PORT


@dataclass(frozen=True)
class Preset:
    path: Path
    version: int = PRESET_VERSION
    data: DataSection = field(default_factory=DataSection)
    reward: RewardSection = field(default_factory=RewardSection)
    grpo: AlgoSection | None = None
    dpo: AlgoSection | None = None
    launch: LaunchSection | None = None  # absent: `rlwhf launch` does not cap the steps on a CPU
    profiles: dict[str, Profile] = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False, compare=False)  # the checked YAML mapping

    @property
    def sha256(self) -> str:
        """Hash of the preset's content (after $RLWHF_MAX_STEPS): a cache key that changes with any number."""
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True, default=str).encode()).hexdigest()

    def to_dict(self) -> dict:
        """The preset as the YAML mapping (a copy: edit it and dump it to make another preset)."""
        return copy.deepcopy(self.raw)

    def algo(self, name: str) -> AlgoSection:
        section = getattr(self, name, None) if name in ALGOS else None
        if section is None:
            raise RlwhfError(f"{self.path}: no `{name}` section (the preset has "
                             f"{', '.join(a for a in ALGOS if getattr(self, a) is not None) or 'none'})")
        return section

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise RlwhfError(f"{self.path}: no profile {name!r} (has {', '.join(self.profiles) or 'none'})")
        return self.profiles[name]


def load_preset(path: str | Path | None = None) -> Preset:
    """The canonical preset `configs/transformer-lab/grpo_config.yaml` (or another file), checked.

    $RLWHF_MAX_STEPS, when set, replaces each algorithm section's `max_steps`: a documented command can then
    run as written and still stop after a few optimizer steps (the seed-workflow test uses it)."""
    import yaml

    path = Path(path).expanduser() if path else default_preset_path()
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise RlwhfError(f"{path}: preset not found") from None
    except OSError as exc:
        raise RlwhfError(f"{path}: unreadable: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise RlwhfError(f"{path}: {where}not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise RlwhfError(f"{path}: the preset must be a mapping")
    cap = os.environ.get(MAX_STEPS_ENV, "").strip()
    if cap:
        if not cap.isdigit() or int(cap) < 1:
            raise RlwhfError(f"${MAX_STEPS_ENV}={cap!r}: expected a whole number of steps, at least 1")
        for section in ALGOS:
            if isinstance(data.get(section), dict):
                data[section]["max_steps"] = int(cap)
    try:
        return _preset(data, path)
    except _Bad as bad:
        raise RlwhfError(f"{path}: {bad.where}: {bad.message}") from None


class _Bad(Exception):
    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where, self.message = where, message


def _preset(data: dict, path: Path) -> Preset:
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(Preset)
    known = [f.name for f in dataclasses.fields(Preset) if f.name not in ("path", "raw")]
    for key, value in data.items():
        if key not in known:
            raise _Bad(str(key), f"unknown key (known: {', '.join(known)})")
        if key in ALGOS:
            values[key] = None if value is None else AlgoSection(key, _swift_args(value, key))
        else:
            values[key] = _typed(hints[key], value, key)
    if values.get("version", PRESET_VERSION) != PRESET_VERSION:
        raise _Bad("version", f"this rlwhf reads preset version {PRESET_VERSION}, got {values['version']!r}")
    preset = Preset(path=path, raw=copy.deepcopy(data), **values)
    for name, prof in preset.profiles.items():
        if prof.node_profile not in ("auto", *preset.profiles) or prof.node_profile == "multi_node":
            raise _Bad(f"profiles.{name}.node_profile", f"expected auto or one of the other profiles "
                                                        f"({', '.join(p for p in preset.profiles if p != 'multi_node')}),"
                                                        f" got {prof.node_profile!r}")
    return preset


_SCALAR = (str, int, float, bool)


def _swift_args(value: Any, where: str) -> dict[str, Any]:
    """A mapping of swift argument -> scalar, list of scalars, mapping (rendered as JSON) or None."""
    if not isinstance(value, dict):
        raise _Bad(where, f"expected a mapping of swift rlhf arguments, got {_show(value)}")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise _Bad(where, f"argument names are strings, got {key!r}")
        ok = (item is None or isinstance(item, _SCALAR) or isinstance(item, dict)
              or (isinstance(item, list) and all(isinstance(x, _SCALAR) for x in item)))
        if not ok:
            raise _Bad(f"{where}.{key}", f"expected a value, a list of values or a mapping, got {_show(item)}")
        out[key] = copy.deepcopy(item)
    return out


def _env(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Bad(where, f"expected a mapping of variable -> value, got {_show(value)}")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, _SCALAR):
            raise _Bad(f"{where}.{key}", f"expected a string, number or boolean, got {_show(item)}")
        out[key] = str(item)
    return out


def _typed(tp: Any, value: Any, where: str) -> Any:
    """`value` checked against the annotation `tp` (dataclass sections recursively)."""
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _Bad(where, f"expected a mapping, got {_show(value)}")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        for key in value:
            if key not in fields:
                raise _Bad(f"{where}.{key}", f"unknown key (known: {', '.join(fields)})")
        missing = [n for n, f in fields.items() if n not in value
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise _Bad(f"{where}.{missing[0]}", "missing (required in this section)")
        return tp(**{k: _typed(hints[k], v, f"{where}.{k}") for k, v in value.items()})
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is dict:
        if args[1] is str:
            return _env(value, where)
        if args[1] is Any:
            return _swift_args(value, where)
        if not isinstance(value, dict):
            raise _Bad(where, f"expected a mapping, got {_show(value)}")
        return {str(k): _typed(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:  # X | None: X's own message (a section's key path, not the whole section)
            return _typed(rest[0], value, where)
        for alt in args:
            try:
                return _typed(alt, value, where)
            except _Bad:
                continue
        raise _Bad(where, f"expected {' or '.join(_describe(a) for a in args)}, got {_show(value)}")
    if origin is Literal:
        if value in args:
            return value
        raise _Bad(where, f"expected {_describe(tp)}, got {_show(value)}")
    if tp is type(None):
        if value is None:
            return None
        raise _Bad(where, f"expected nothing, got {_show(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str or tp is bool:
        if isinstance(value, tp):
            return value
    else:  # pragma: no cover - an annotation this loader does not know is a bug here
        raise TypeError(f"{where}: unsupported annotation {tp!r}")
    raise _Bad(where, f"expected {_describe(tp)}, got {_show(value)}")


def _describe(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " or ".join(json.dumps(a) for a in typing.get_args(tp))
    return {int: "an int", float: "a number", str: "a string", bool: "true or false",
            type(None): "nothing (null)"}.get(tp, getattr(tp, "__name__", str(tp)))


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}" if isinstance(value, (dict, list)) else text[:60]


__all__ = ["Preset", "Profile", "AlgoSection", "DataSection", "RewardSection", "TeacherSection", "LaunchSection",
           "load_preset", "default_preset_path", "HONESTY_ORM", "TEACHER_ORM", "DEFAULT_NNODES",
           "DEFAULT_MASTER_PORT", "DEFAULT_ASSUMED_DEVICES", "DEFAULT_OUTPUT_DIR", "ALGOS"]
