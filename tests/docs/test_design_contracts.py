"""docs/design.md is the contract that code and tests cite: every flag it lists is one the command
accepts, and every docs page a docstring cites exists (no citation of files outside the repository)."""

from __future__ import annotations

import re
from pathlib import Path

from rlwhf.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
DESIGN = REPO / "docs" / "design.md"


def _cli_block() -> dict[tuple[str, ...], set[str]]:
    """command words -> the flags design.md lists for it (continuation lines included)."""
    text = DESIGN.read_text(encoding="utf-8")
    block = text.split("## CLI contracts", 1)[1].split("```", 2)[1]
    commands: dict[tuple[str, ...], set[str]] = {}
    current = None
    for line in block.splitlines():
        if line.startswith("rlwhf "):
            words = tuple(w for w in line.split()[1:3] if re.fullmatch(r"[a-z][a-z-]*", w))
            current = commands.setdefault(words, set())
        if current is not None:
            current.update(re.findall(r"(?<![\w-])--[a-z][a-z0-9_-]*", line))
    return commands


def _parser_for(words: tuple[str, ...]):
    parser = build_parser()
    for word in words:
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        if word not in sub.choices:
            return parser
        parser = sub.choices[word]
    return parser


def test_every_flag_in_design_md_is_accepted_by_its_command():
    commands = _cli_block()
    assert ("data", "gate") in commands and ("launch",) in commands and len(commands) >= 13
    unknown = {}
    for words, flags in commands.items():
        parser = _parser_for(words)
        accepted = {s for a in parser._actions for s in a.option_strings}
        missing = sorted(f for f in flags if f not in accepted)
        if missing:
            unknown[" ".join(words)] = missing
    assert unknown == {}


def test_docstrings_cite_pages_that_exist_in_the_repository():
    cited, outside = set(), []
    for path in (REPO / "src" / "rlwhf").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        cited |= set(re.findall(r"docs/[\w.-]+\.md", text))
        if re.search(r"\bDESIGN\.md|shared/notes", text):
            outside.append(str(path.relative_to(REPO)))
    assert outside == []
    assert "docs/design.md" in cited
    assert [c for c in sorted(cited) if not (REPO / c).is_file()] == []
