"""The layers point one way (docs/architecture.md): read every import of src/rlwhf with `ast` (module-level
and inside functions alike, since a lazy import is still a dependency) and check that

- no two packages import each other, directly or through others (no cycle in the package graph);
- the lower layers (data, teacher, reward, hardware, telemetry, and the base modules errors, config, preset,
  lockfile, progress) import nothing from the higher ones (plan, policy, train, evaluate, integrations, launch, cli);
- the base modules import only each other;
- nobody imports another package's private (`_name`) helper: a helper shared across packages is public.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rlwhf"
BASE = {"rlwhf", "errors", "config", "preset", "lockfile", "progress"}  # "rlwhf" = the package's own __init__ (__version__)
LOW = BASE | {"data", "teacher", "reward", "hardware", "telemetry"}
HIGH = {"plan", "policy", "train", "evaluate", "integrations", "launch", "cli", "__main__"}
# Edges that break the rules today, each with the change that removes it. The test fails when one
# disappears too, so this list only shrinks.
KNOWN: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str) -> str:
    """rlwhf.data.io -> data; rlwhf.errors -> errors; rlwhf -> rlwhf."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "rlwhf"


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, imported names) for every import statement in the file, at any depth."""
    module = _module_name(path)
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            found.append((node.lineno, target, [alias.name for alias in node.names]))
    return [f for f in found if f[1] == "rlwhf" or f[1].startswith("rlwhf.")]


def _edges() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> ["file:line module", ...] over all of src/rlwhf."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(SRC.rglob("*.py")):
        src_pkg = _package(_module_name(path))
        for line, target, names in _imports(path):
            # `from rlwhf import x` imports the sub-package or module x
            targets = [f"rlwhf.{n}" for n in names] if target == "rlwhf" else [target]
            for t in targets:
                dst_pkg = _package(t)
                if dst_pkg != src_pkg:
                    edges[(src_pkg, dst_pkg)].append(f"{path.relative_to(SRC.parent)}:{line} {t}")
    return edges


def _cycles(edges) -> list[list[str]]:
    graph = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    cycles, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


@pytest.fixture(scope="module")
def edges():
    found = _edges()
    assert found, "no imports found: the test reads the wrong folder"
    return found


def test_the_parser_sees_function_level_imports(edges):
    # rlwhf.cli.train imports rlwhf.train.train inside `run`: a lazy import is a dependency too.
    assert any("cli/train.py" in w and "rlwhf.train" in w for w in edges[("cli", "train")])


def test_no_cycle_between_packages(edges):
    current = {e: w for e, w in edges.items() if e not in KNOWN}
    assert _cycles(current) == [], {e: current[e] for c in _cycles(current) for e in zip(c, c[1:])}


def test_lower_layers_import_nothing_from_higher_ones(edges):
    bad = {f"{a} -> {b}": w for (a, b), w in edges.items() if a in LOW and b in HIGH and (a, b) not in KNOWN}
    assert bad == {}


def test_base_modules_import_only_base_modules(edges):
    bad = {f"{a} -> {b}": w for (a, b), w in edges.items() if a in BASE and b not in BASE}
    assert bad == {}


def test_the_known_exceptions_still_exist(edges):
    # When one of these is fixed, remove it from KNOWN so that it cannot come back.
    assert [e for e in KNOWN if e not in edges] == []


def test_nothing_re_enters_the_cli(edges):
    # The CLI is a thin layer over the library; the launch calls stage functions, never `rlwhf ...` argv.
    assert sorted(a for a, b in edges if b == "cli") == ["__main__"]


def test_no_private_helper_is_imported_from_another_package():
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        src_pkg = _package(_module_name(path))
        for line, target, names in _imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            private += [p for p in target.split(".") if p.startswith("_") and not p.startswith("__")]
            if private and _package(target) != src_pkg:
                bad.append(f"{path.relative_to(SRC.parent)}:{line} {target} {private}")
    assert bad == []


def test_hardware_imports_neither_plan_nor_train(edges):
    assert not [e for e in edges if e[0] == "hardware" and e[1] in ("plan", "train")]
