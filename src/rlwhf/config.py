"""Typed configs are the single source of truth: CLI flags are derived from dataclass fields.

A field's `metadata` may carry `help`, `flag` (override the flag name), `choices`, `nargs` and
`positional`. `add_arguments(parser, Cls)` writes the flags; `from_namespace(Cls, ns)` builds the
config back and runs its `_check_*` methods.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import typing
from pathlib import Path
from typing import Any

from rlwhf.errors import RlwhfError


def configs_dir() -> Path:
    """The project's `configs/` folder: shipped in the wheel as rlwhf/_configs, or the repo's own."""
    packaged = Path(__file__).parent / "_configs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "configs"


def repo_root() -> Path | None:
    """The source checkout (editable install), or None for a wheel install."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


MAX_STEPS_ENV = "RLWHF_MAX_STEPS"  # caps every algorithm's max_steps (smoke runs of the documented commands;
# read by rlwhf.preset.load_preset)


TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
_RAISE = object()


def parse_bool(value: Any, unknown: Any = _RAISE) -> bool | None:
    """The one reader of booleans from flags, presets, Transformer Lab parameters and data columns.

    None stays None; a bool is itself; a number is its truth; a string is one of TRUE_WORDS / FALSE_WORDS
    in any case. Anything else raises ValueError, or gives `unknown` when that is passed.

    >>> parse_bool("Yes"), parse_bool(0), parse_bool(None), parse_bool("maybe", unknown=None)
    (True, False, None, None)
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    word = str(value).strip().casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    if unknown is _RAISE:
        raise ValueError(f"not a boolean: {value!r} (use one of {', '.join(TRUE_WORDS + FALSE_WORDS)})")
    return unknown


def parse_value(value: Any, tp: Any) -> Any:
    """The one reader of typed values from strings (flags, plan args, env variables, Transformer Lab
    parameters): `value` converted to the type `tp` (`int | None`, `list[str]`, `str | bool`, `dict` ...).
    Booleans go through `parse_bool`; a string that fits none of a union's members stays a string; a plain
    `int` / `float` / `bool` that does not parse raises ValueError.

    >>> parse_value("4", int | None), parse_value("false", bool), parse_value(["0.5", "1"], list[float])
    (4, False, [0.5, 1.0])
    """
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        inner = args[0] if args else str
        items = value if isinstance(value, list) else [value]
        return [parse_value(v, inner) for v in items]
    if args and origin is not dict and origin is not typing.Literal:
        if isinstance(value, str) and value.strip().lower() in ("true", "false") and bool in args:
            return parse_bool(value)
        for member in args:
            if member is bool:
                continue
            try:
                return parse_value(value, member)
            except (TypeError, ValueError):
                continue
        return value
    if not isinstance(value, str):
        return value
    if tp is bool:
        return parse_bool(value)
    if tp is int:
        return int(value)
    if tp is float:
        return float(value)
    if tp is dict or origin is dict:
        return json.loads(value)
    return value


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(inner type, is_optional) for `X | None` / Optional[X]."""
    args = typing.get_args(tp)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else Any), True
    return tp, False


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one flag per dataclass field of `cls` (help text from field metadata)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli") is False:
            continue
        tp, _ = _unwrap(hints[f.name])
        meta = f.metadata
        kwargs: dict[str, Any] = {"help": meta.get("help", "")}
        if "choices" in meta:
            kwargs["choices"] = meta["choices"]
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        )
        origin = typing.get_origin(tp)
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
            kwargs["default"] = default
        elif origin in (list, tuple):
            inner = typing.get_args(tp)[0] if typing.get_args(tp) else str
            kwargs["nargs"] = meta.get("nargs", "+")
            kwargs["type"] = inner
            kwargs["default"] = default
        else:
            kwargs["type"] = tp if tp in (int, float, str) else str
            kwargs["default"] = default
        if kwargs.get("help") and default not in (None, [], ()) and tp is not bool:
            kwargs["help"] += f" (default: {default})"
        if meta.get("positional"):
            kwargs.pop("default", None) if f.default is dataclasses.MISSING else None
            if f.default is not dataclasses.MISSING:
                kwargs["nargs"] = "?"
            parser.add_argument(f.name, **kwargs)
        else:
            flags = meta.get("flags") or [meta.get("flag", "--" + f.name.replace("_", "-"))]
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and tp is not bool:
                kwargs["required"] = True
            parser.add_argument(*flags, dest=f.name, **kwargs)


def from_namespace(cls: type, ns: argparse.Namespace, **overrides):
    """Build `cls` from parsed flags (fields absent from `ns` keep their defaults) and check it."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(ns).items() if k in names}
    values.update(overrides)
    obj = cls(**values)
    check(obj)
    return obj


def check(obj) -> None:
    """Run every `_check_*` method of a config; each raises RlwhfError on a bad value."""
    for name in sorted(dir(obj)):
        if name.startswith("_check_"):
            getattr(obj, name)()
