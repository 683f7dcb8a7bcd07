"""The data quality gate: every row is checked; valid rows go to the clean file verbatim, invalid
ones to the quarantine (line, rule, reason, raw line) and a JSON report counts both.
total = valid + invalid, always: no row is dropped on the way.
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rlwhf.data import io
from rlwhf.data._fast import blank
from rlwhf.data.hashset import HashSet
from rlwhf.data.io import DEFAULT_MAX_LINE_BYTES, JsonlWriter, LineStats, check_input_path, iter_lines, parse_line
from rlwhf.data.schema import RowError, canonicalize
from rlwhf.errors import RlwhfError

# How many duplicate / blank line numbers the report lists (the counts are always complete).
EXAMPLES = 20


def default_outputs(path: str | Path) -> tuple[str, str, str]:
    """X.jsonl -> X.clean.jsonl, X.quarantine.jsonl, X.gate_report.json, beside the input."""
    p = Path(path)
    stem = p.name[: -len(p.suffix)] if p.suffix in (".jsonl", ".json", ".ndjson") else p.name
    return (str(p.with_name(f"{stem}.clean.jsonl")), str(p.with_name(f"{stem}.quarantine.jsonl")),
            str(p.with_name(f"{stem}.gate_report.json")))


@dataclass
class GateConfig:
    file: str = field(metadata={"help": "honesty-log JSONL file to check", "positional": True})
    clean: str | None = field(default=None, metadata={
        "help": "where valid rows go, verbatim (default: beside FILE as <stem>.clean.jsonl)"})
    quarantine: str | None = field(default=None, metadata={
        "help": "where invalid rows go as {line, rule, reason, raw} (default: <stem>.quarantine.jsonl)"})
    report: str | None = field(default=None, metadata={
        "help": "JSON report {total, valid, invalid, duplicates, reasons} (default: <stem>.gate_report.json)"})
    strict: bool = field(default=False, metadata={
        "help": "also require metadata.source_ai, metadata.confidence_score (0..1) and metadata.rubric_dimension"})
    dedupe: bool = field(default=False, metadata={
        "help": "quarantine repeats of an earlier row's prompt+answer (by default they are only counted)"})
    max_line_bytes: int = field(default=DEFAULT_MAX_LINE_BYTES, metadata={
        "help": "quarantine lines longer than this many bytes; 0 = no limit"})

    def _check_paths(self) -> None:
        if not self.file:
            raise RlwhfError("gate: give the JSONL file to check")
        outs = [p for p in self.outputs() if p]
        if str(Path(self.file).resolve()) in {str(Path(p).resolve()) for p in outs}:
            raise RlwhfError(f"{self.file}: an output path equals the input; choose another")
        if len({str(Path(p).resolve()) for p in outs}) != len(outs):
            raise RlwhfError("gate: --clean, --quarantine and --report must be different files")

    def _check_max_line_bytes(self) -> None:
        if self.max_line_bytes < 0:
            raise RlwhfError(f"--max-line-bytes must be >= 0, got {self.max_line_bytes}")

    def outputs(self) -> tuple[str, str, str]:
        clean, quarantine, report = default_outputs(self.file)
        return self.clean or clean, self.quarantine or quarantine, self.report or report


def _fast_decoder(strict: bool):
    """A msgspec decoder accepting only rows the full rules accept (see `_fast`)."""
    from rlwhf.data import _fast

    return _fast.decoder(_fast.StrictRow if strict else _fast.Row).decode


def gate_file(cfg: GateConfig) -> dict:
    """Check every row of `cfg.file`; write clean, quarantine and report; return the report.

    >>> import json, pathlib; _ = pathlib.Path("g.jsonl").write_text(json.dumps({"prompt": "2+2?", "answer": "4", "reward": 2}) + "\\n")
    >>> gate_file(GateConfig("g.jsonl"))["valid"]
    1
    """
    from rlwhf.config import check

    check(cfg)
    path = check_input_path(cfg.file)
    clean_path, quarantine_path, report_path = cfg.outputs()
    fast = _fast_decoder(cfg.strict)
    from rlwhf.data._fast import ERRORS as fast_errors
    limit = cfg.max_line_bytes
    stats = LineStats()
    reasons: Counter[str] = Counter()
    seen = HashSet()
    duplicate_lines: list[int] = []
    total = valid = invalid = duplicates = 0

    strict, dedupe = cfg.strict, cfg.dedupe
    fast_max = limit or float("inf")  # lines up to this length try msgspec
    from rlwhf.progress import track_reads

    with track_reads(io.open_input(path), "gate") as fh, JsonlWriter(clean_path) as clean, \
            JsonlWriter(quarantine_path) as quarantine:
        add, keep = seen.add, clean.write_raw
        for lineno, raw, terminated in iter_lines(fh, stats):
            total += 1
            key = None
            if len(raw) <= fast_max:
                try:
                    r = fast(raw)
                    if not (blank(r.prompt) or blank(r.answer) or (strict and (
                            blank(r.metadata.source_ai) or blank(r.metadata.rubric_dimension)))):
                        key = (r.prompt, r.answer)
                except fast_errors:
                    pass  # not the common shape: the full rules below decide, with the precise reason
            if key is None:
                try:
                    row = canonicalize(parse_line(raw, terminated, limit), strict=strict)
                    key = (row["prompt"], row["answer"])
                except RowError as err:
                    invalid += 1
                    reasons[err.rule] += 1
                    quarantine.write(_quarantine_row(lineno, err, raw))
                    continue
            # 64-bit hashes: a false duplicate needs a collision (~1e-8 at a million rows).
            if not add(hash(key)):
                duplicates += 1
                if len(duplicate_lines) < EXAMPLES:
                    duplicate_lines.append(lineno)
                if dedupe:
                    invalid += 1
                    reasons["duplicate"] += 1
                    quarantine.write(_quarantine_row(
                        lineno, RowError("duplicate", "same prompt and answer as an earlier row"), raw))
                    continue
            valid += 1
            keep(raw)

    assert total == valid + invalid, "gate lost a row"  # the contract's identity, checked every run
    report = {
        "file": str(path),
        "total": total,
        "valid": valid,
        "invalid": invalid,
        "duplicates": duplicates,
        "reasons": dict(reasons.most_common()),
        "strict": cfg.strict,
        "dedupe": cfg.dedupe,
        "lines": stats.lines,
        "blank_lines": stats.blank,
        "blank_line_numbers": stats.blank_lines,
        "crlf_lines": stats.crlf_lines,
        "bom_lines": stats.bom_lines,
        "duplicate_line_numbers": duplicate_lines,
        "clean": clean_path,
        "quarantine": quarantine_path,
    }
    if total == 0:
        report["error"] = "empty file: no rows" if stats.lines == 0 else "no rows: only blank lines"
    io.write_json(report_path, report)
    report["report"] = report_path
    return report


def _quarantine_row(lineno: int, err: RowError, raw: bytes) -> dict:
    row = {"line": lineno, "reason": str(err), "rule": err.rule, "raw": io.raw_text(raw)}
    if err.rule == "invalid UTF-8":
        # The text form escapes the bad bytes; this keeps the line byte-exact.
        row["raw_base64"] = base64.b64encode(raw).decode("ascii")
    return row


def exit_code(report: dict) -> int:
    """0: all rows valid; 1: some invalid (outputs written); 2: nothing to check."""
    if report["total"] == 0:
        return 2
    return 1 if report["invalid"] else 0
