"""Benchmark formats: any question file -> evaluation rows (prompt, references, known wrong answers, answerable).

Sources: JSONL, CSV, Parquet, or a folder saved by Hugging Face `datasets` (`save_to_disk`). Formats:

| format | columns read | reference(s) | answerable |
|---|---|---|---|
| `rlwhf` | prompt, reference, answerable (our prompt / answer rows) | reference, references | answerable |
| `simpleqa`, `simpleqa_verified` | metadata, problem, answer | answer | always |
| `truthfulqa` | question, best_answer, correct_answers, incorrect_answers | best + correct; incorrect ones are known wrong | always |
| `abstention` | question, reference_answers (or none), should_abstain | reference_answers | not should_abstain |

`auto` picks by the columns; `--map FIELD=COLUMN` renames on top of any format (a "table" with other
column names is `rlwhf` plus a map). Column names are matched case-insensitively with spaces as
underscores ("Best Answer" = best_answer), so TruthfulQA's own CSV reads as well as its HF export.
A list column may be a real list, a JSON list, or a "; "-separated string (TruthfulQA's CSV).

Every record becomes a row or stops the run with `file:line: rule` (nothing is skipped): an evaluation
that silently lost rows would measure something else.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterator

from rlwhf.data.schema import source_names
from rlwhf.errors import RlwhfError

ANSWER_SOURCES = source_names("answer")  # the schema's one alias table
# canonical field -> the columns each format reads it from, tried in order.
FORMATS: dict[str, dict[str, tuple[str, ...]]] = {
    "rlwhf": {
        "prompt": source_names("prompt"),
        "reference": source_names("reference"),
        "references": ("references", "correct_answers", "reference_answers"),
        "incorrect_answers": ("incorrect_answers",),
        "answerable": ("answerable",),
        "should_abstain": ("should_abstain",),
        "answer": ANSWER_SOURCES,
    },
    "simpleqa": {"prompt": ("problem",), "reference": ("answer",)},
    "truthfulqa": {"prompt": ("question",), "reference": ("best_answer",), "references": ("correct_answers",),
                   "incorrect_answers": ("incorrect_answers",)},
    "abstention": {"prompt": ("question",), "references": ("reference_answers", "references", "answers"),
                   "should_abstain": ("should_abstain",)},
}
FORMATS["simpleqa_verified"] = {**FORMATS["simpleqa"], "id": ("original_index", "id")}
for _spec_of in FORMATS.values():
    _spec_of.setdefault("id", ("id",))
# Which fields a format cannot do without (checked against a table's columns before reading a row).
REQUIRED = {"rlwhf": ("prompt",), "simpleqa": ("prompt", "reference"), "simpleqa_verified": ("prompt", "reference"),
            "truthfulqa": ("prompt", "reference"), "abstention": ("prompt", "should_abstain")}
ALWAYS_ANSWERABLE = {"simpleqa", "simpleqa_verified", "truthfulqa"}
FIELDS = ("prompt", "reference", "references", "incorrect_answers", "answerable", "should_abstain", "answer", "id",
          "metadata")
FORMAT_NAMES = ("auto",) + tuple(FORMATS)
# Fields an earlier evaluation added to a row: regrading an answers.jsonl starts from the answer alone.
STALE_FIELDS = ("grade", "verdict", "feedback", "status", "error", "context", "dpo_delta", "preferred_grade",
                "preferred_verdict", "preferred_feedback", "preferred_status", "preferred_error")


def norm(name: str) -> str:
    """How column names are compared: "Best Answer" == "best_answer"."""
    return re.sub(r"[\s\-]+", "_", str(name).strip()).lower()


def parse_map(items: list[str] | None) -> dict[str, str]:
    """`["prompt=question", "reference=gold"]` -> {"prompt": "question", "reference": "gold"}.

    >>> parse_map(["prompt=Question"])
    {'prompt': 'Question'}
    """
    if isinstance(items, str):  # one string from a plugin parameter: "prompt=question, reference=gold"
        items = [part.strip() for part in items.split(",") if part.strip()]
    out = {}
    for item in items or []:
        field, sep, source = item.partition("=")
        field = field.strip()
        if not sep or not field or not source.strip():
            raise RlwhfError(f"--map {item!r}: write FIELD=COLUMN, e.g. --map prompt=question")
        if field not in FIELDS:
            raise RlwhfError(f"--map {item!r}: unknown field {field!r} (choose {', '.join(FIELDS)})")
        out[field] = source.strip()
    return out


# -- sources: (where, record) ------------------------------------------------------------------------

def _kind(path: Path) -> str:
    if path.is_dir():
        return "hf"
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "jsonl"


def _columns(path: Path, kind: str, split: str | None) -> list[str] | None:
    """The column names of a table source (None for JSONL, whose rows may differ)."""
    if kind == "csv":
        with _open_csv(path) as fh:
            return next(csv.reader(fh, dialect=_dialect(path)), [])
    if kind == "parquet":
        return list(_parquet(path).schema_arrow.names)
    if kind == "hf":
        return list(_hf(path, split).column_names)
    return None


def _open_csv(path: Path):
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise RlwhfError(f"{path}: cannot read ({exc.strerror})") from None


def _dialect(path: Path):
    return csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel


def _parquet(path: Path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise RlwhfError("reading Parquet needs pyarrow: pip install pyarrow (or pip install 'rlwhf[train]')") from None
    try:
        return pq.ParquetFile(str(path))
    except Exception as exc:  # pyarrow raises its own error types for a file that is not Parquet
        raise RlwhfError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None


def _hf(path: Path, split: str | None):
    try:
        import datasets
    except ImportError:
        raise RlwhfError("reading a saved dataset folder needs datasets: pip install 'rlwhf[train]'") from None
    try:
        ds = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise RlwhfError(f"{path}: not a dataset folder saved by datasets.save_to_disk ({exc})") from None
    if isinstance(ds, datasets.DatasetDict):
        names = list(ds)
        if split:
            if split not in ds:
                raise RlwhfError(f"{path}: no split {split!r} (splits: {', '.join(names)})")
            return ds[split]
        if len(names) == 1:
            return ds[names[0]]
        if "test" in ds:
            return ds["test"]
        raise RlwhfError(f"{path}: several splits ({', '.join(names)}); choose one with --split")
    return ds


def iter_records(path: str | Path, split: str | None = None) -> Iterator[tuple[str, dict]]:
    """("file:line" or "file: row N", record) from any supported source, in file order."""
    p = Path(path)
    if not p.exists():
        raise RlwhfError(f"{p}: no such file or folder")
    kind = _kind(p)
    if kind == "jsonl":
        from rlwhf.data.io import iter_objects

        yield from iter_objects(p)
    elif kind == "csv":
        with _open_csv(p) as fh:
            reader = csv.DictReader(fh, dialect=_dialect(p))
            try:
                for rec in reader:
                    where = f"{p}:{reader.line_num}"
                    if None in rec:  # more cells than the header has columns
                        raise RlwhfError(f"{where}: {len(reader.fieldnames or []) + len(rec[None])} cells but "
                                         f"{len(reader.fieldnames or [])} columns in the header")
                    yield where, rec
            except csv.Error as exc:
                raise RlwhfError(f"{p}:{reader.line_num}: not valid CSV ({exc})") from None
    elif kind == "parquet":
        n = 0
        for batch in _parquet(p).iter_batches(batch_size=1024):
            for rec in batch.to_pylist():
                n += 1
                yield f"{p}: row {n}", rec
    else:
        for n, rec in enumerate(_hf(p, split), start=1):
            yield f"{p}: row {n}", rec


# -- detection and mapping ---------------------------------------------------------------------------

def detect(columns: list[str]) -> str:
    """The format whose columns these are.

    >>> detect(["metadata", "problem", "answer"]), detect(["Question", "Best Answer", "Correct Answers"])
    ('simpleqa', 'truthfulqa')
    """
    cols = {norm(c) for c in columns}
    if "prompt" in cols:  # our own rows (any extra columns ride along)
        return "rlwhf"
    if {"problem", "answer"} <= cols:
        return "simpleqa_verified" if "original_index" in cols else "simpleqa"
    if {"question", "best_answer"} <= cols:
        return "truthfulqa"
    if {"question", "should_abstain"} <= cols:
        return "abstention"
    return "rlwhf"


def field_spec(fmt: str, field_map: dict[str, str]) -> dict[str, tuple[str, ...]]:
    spec = {k: tuple(norm(c) for c in v) for k, v in FORMATS[fmt].items()}
    for field, source in field_map.items():
        spec[field] = (norm(source),)
    return spec


def _check_columns(path: Path, columns: list[str], fmt: str, spec: dict, field_map: dict, need_answer: bool) -> None:
    have = {norm(c) for c in columns}
    need = list(REQUIRED[fmt]) + (["answer"] if need_answer else [])
    need += [f for f in field_map if f not in need]  # a mapped column must exist
    for field in need:
        sources = spec.get(field, ())
        if not sources:  # e.g. SimpleQA's `answer` column is the reference, not a student's answer
            raise RlwhfError(f"{path}: format {fmt} has no column for the student's answer; name it with "
                             f"--map answer=COLUMN (columns: {', '.join(columns)})")
        if not any(s in have for s in sources):
            how = (f"--map {field}={field_map[field]}" if field in field_map
                   else f"format {fmt}; map another column with --map {field}=COLUMN")
            wanted = " or ".join(repr(s) for s in sources) or repr(field)
            raise RlwhfError(f"{path}: no column {wanted} for {field} ({how}); columns: {', '.join(columns) or '(none)'}")


def _pick(rec: dict, sources: tuple[str, ...]) -> tuple[bool, Any]:
    for source in sources:
        if source in rec:
            return True, rec[source]
        if "." in source:  # a dotted path into nested objects (JSONL)
            cur: Any = rec
            for part in source.split("."):
                if not isinstance(cur, dict) or part not in cur:
                    break
                cur = cur[part]
            else:
                return True, cur
    return False, None


def _text(value, where: str, field: str, allow_none: bool, loose: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if allow_none and (value is None or loose):  # an empty CSV cell is "no value"
            return None
        raise RlwhfError(f"{where}: '{field}' must be a non-empty string")
    if not isinstance(value, str):
        raise RlwhfError(f"{where}: '{field}' must be a string" + (" or null" if allow_none else "")
                         + f", got {type(value).__name__}")
    return value


def _list(value, where: str, field: str) -> list[str]:
    """A list column: a list, a JSON list, or a "; "-separated string; None/empty = []."""
    if value is None:
        return []
    if hasattr(value, "tolist"):  # numpy arrays from Parquet via pandas
        value = value.tolist()
    if isinstance(value, str):
        text = value.strip()
        if not text or text.lower() in ("none", "null", "[]"):
            return []
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise RlwhfError(f"{where}: '{field}' looks like a list but is not valid JSON") from None
        else:
            value = [part for part in text.split(";")]
    if not isinstance(value, (list, tuple)):
        raise RlwhfError(f"{where}: '{field}' must be a list of strings, got {type(value).__name__}")
    out = []
    for item in value:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str):
            raise RlwhfError(f"{where}: '{field}' must hold strings, got {type(item).__name__}")
        if item.strip() and item.strip() not in out:
            out.append(item.strip())
    return out


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _bool(value, where: str, field: str, loose: bool) -> bool | None:
    """true / false / null; a CSV cell (`loose`) may also say yes/no, 1/0 or be empty."""
    if value is None or isinstance(value, bool):
        return value
    if loose and isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if text in ("", "none", "null"):
            return None
    raise RlwhfError(f"{where}: '{field}' must be true, false or null, got {value!r}")


def _metadata(value, where: str) -> dict:
    """A metadata column: an object, a JSON object, or SimpleQA's Python-dict text."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(value)
            except (ValueError, SyntaxError):
                continue
            if isinstance(parsed, dict):
                return parsed
        return {"metadata": value}  # kept as it is: free text is still information
    raise RlwhfError(f"{where}: 'metadata' must be an object, got {type(value).__name__}")


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def to_row(where: str, rec: dict, fmt: str, spec: dict, need_answer: bool, benchmark: str,
           loose: bool = False) -> dict:
    """One evaluation row from one record (see the module docstring)."""
    rec = {norm(k): v for k, v in rec.items()}
    used: set[str] = set()

    def take(field: str) -> tuple[bool, Any]:
        found, value = _pick(rec, spec.get(field, ()))
        if found:
            used.update(s for s in spec[field] if s in rec)
            used.add(spec[field][0].split(".")[0])
        return found, value

    prompt = _text(take("prompt")[1], where, "prompt", False, loose)
    reference = _text(take("reference")[1], where, "reference", True, loose)
    references = _list(take("references")[1], where, "references")
    incorrect = _list(take("incorrect_answers")[1], where, "incorrect_answers")
    answerable = _bool(take("answerable")[1], where, "answerable", loose)
    _, should_abstain = take("should_abstain")
    should_abstain = _bool(should_abstain, where, "should_abstain", loose)
    if REQUIRED[fmt] and "should_abstain" in REQUIRED[fmt] and should_abstain is None:
        raise RlwhfError(f"{where}: 'should_abstain' must be true or false for the abstention format")
    if should_abstain is not None:
        if answerable is not None and answerable == should_abstain:
            raise RlwhfError(f"{where}: answerable and should_abstain contradict each other")
        answerable = not should_abstain
    if fmt in ALWAYS_ANSWERABLE and answerable is None:
        answerable = True
    if reference is None and references:
        reference = references[0]
    elif reference is not None and reference.strip() not in references and (references or incorrect):
        references.insert(0, reference.strip())
    _, rid = take("id")
    found_meta, meta = _pick(rec, ("metadata",))
    if fmt == "rlwhf" and meta is not None and not isinstance(meta, dict):
        raise RlwhfError(f"{where}: 'metadata' must be an object")
    metadata = _metadata(meta, where) if found_meta else {}
    used.add("metadata")
    row: dict = {}
    answer = None
    if need_answer:
        found, answer = take("answer")
        if not found or not isinstance(answer, str):
            raise RlwhfError(f"{where}: an answer row needs a string 'answer' (or completion/response; "
                             "map another column with --map answer=COLUMN)")
    # Every column no field took stays with the row: a benchmark's topic or source is kept, not dropped.
    for key, value in rec.items():
        if key in used or key in STALE_FIELDS or key in ANSWER_SOURCES and fmt == "rlwhf":
            continue
        if fmt == "rlwhf":
            row[key] = _jsonable(value)
        else:
            metadata.setdefault(key, _jsonable(value))
    metadata.setdefault("benchmark", benchmark)
    row.update(prompt=prompt, reference=reference, answerable=answerable, metadata=metadata)
    if len(references) > 1 or incorrect:
        row["references"] = references or ([reference] if reference else [])
        row["incorrect_answers"] = incorrect
    row["id"] = str(rid) if rid not in (None, "") else hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]
    if need_answer:
        row["answer"] = answer
    return row


def read_benchmark(path: str | Path, fmt: str = "auto", field_map: list[str] | dict | None = None,
                   need_answer: bool = False, limit: int | None = None, split: str | None = None) -> tuple[list[dict], str]:
    """(rows, format) from any supported source; `limit` keeps the first N rows."""
    p = Path(path)
    fmap = field_map if isinstance(field_map, dict) else parse_map(field_map)
    if fmt not in FORMAT_NAMES:
        raise RlwhfError(f"--format {fmt}: unknown (choose {', '.join(FORMAT_NAMES)})")
    kind = _kind(p) if p.exists() else None
    if kind is None:
        raise RlwhfError(f"{p}: no such file or folder")
    columns = _columns(p, kind, split)
    records = iter_records(p, split)
    first = None
    if fmt == "auto":
        if columns is None:  # JSONL: the first object's keys decide
            first = next(records, None)
            columns = list(first[1]) if first else []
            detected = detect(columns)
            columns = None
        else:
            detected = detect(columns)
        fmt = detected
    spec = field_spec(fmt, fmap)
    if columns is not None:
        _check_columns(p, columns, fmt, spec, fmap, need_answer)
    benchmark = fmt if fmt != "rlwhf" else "rlwhf"
    rows = []

    def all_records():
        if first is not None:
            yield first
        yield from records

    for where, rec in all_records():
        rows.append(to_row(where, rec, fmt, spec, need_answer, benchmark, loose=kind == "csv"))
        if limit and len(rows) >= limit:
            break
    if not rows:
        raise RlwhfError(f"{p}: no rows")
    return rows, fmt
