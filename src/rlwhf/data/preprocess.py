"""Honesty logs -> training rows: canonical tuples, ms-swift GRPO / DPO rows or TRL GRPO rows.

A generator pipeline end to end (source rows -> canonical tuples -> format -> writer), so
`--streaming` holds one row at a time; only GRPO's prompt dedupe (a 64-bit hash per distinct
prompt, in a flat array) and DPO's per-prompt best/worst answers grow with the input. Invalid rows are reported with
file:line:reason and counted, never dropped silently.
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from rlwhf.data import io
from rlwhf.data.hashset import HashSet
from rlwhf.data.io import DEFAULT_MAX_LINE_BYTES, JsonlWriter, iter_lines, parse_line
from rlwhf.data.schema import (CANONICAL_FIELDS, CLOSED_WORLD, PROMPT_REQUIRED, ROW_REQUIRED, RowError,
                               canonicalize, check_metadata, is_closed_world, stable_id)
from rlwhf.errors import RlwhfError
from rlwhf.progress import track_reads

FORMATS = ("rlwhf", "swift-grpo", "swift-dpo", "trl-grpo")
# GRPO samples several completions per prompt and scores them against the prompt's reference:
# rows need only a prompt (answer/reward are optional there).
REQUIRED_BY_FORMAT = {"rlwhf": ROW_REQUIRED, "swift-dpo": ROW_REQUIRED,
                      "swift-grpo": PROMPT_REQUIRED, "trl-grpo": PROMPT_REQUIRED}
# How many invalid rows are printed one by one on stderr (all go to --quarantine, all are counted).
PRINT_LIMIT = 50
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass
class PreprocessConfig:
    output: str = field(metadata={"help": "output JSONL file ('-' = stdout)"})
    input: list[str] | None = field(default=None, metadata={
        "help": "JSONL files, directories of *.jsonl, or '-' for stdin", "nargs": "+"})
    hf_dataset: str | None = field(default=None, metadata={
        "help": "a Hugging Face dataset for datasets.load_dataset: a local folder, a local data file "
                "(.jsonl/.json/.csv/.parquet), a save_to_disk folder, or a builder name"})
    hf_config: str | None = field(default=None, metadata={"help": "dataset configuration name"})
    split: str = field(default="train", metadata={"help": "dataset split (--hf-dataset)"})
    hf_data_files: list[str] | None = field(default=None, metadata={
        "help": "data_files for a builder name such as json (--hf-dataset json --hf-data-files a.jsonl)"})
    format: str = field(default="rlwhf", metadata={"help": "output row format", "choices": FORMATS})
    streaming: bool = field(default=False, metadata={
        "help": "flat memory: HF datasets load with streaming=True (JSONL inputs are always read row by row)"})
    max_samples: int | None = field(default=None, metadata={"help": "write at most N output rows"})
    map: list[str] | None = field(default=None, metadata={
        "help": "FIELD=SOURCE: read canonical FIELD from SOURCE (dotted paths allowed), e.g. prompt=question",
        "nargs": "+"})
    strict_input: bool = field(default=False, metadata={
        "help": "stop with exit 1 at the first invalid row instead of reporting and skipping it"})
    strict: bool = field(default=False, metadata={
        "help": "apply the gate's --strict metadata rules (source_ai, confidence_score, rubric_dimension)"})
    quarantine: str | None = field(default=None, metadata={
        "help": "also write every invalid row as {file, line, rule, reason, raw} here"})
    min_margin: int = field(default=1, metadata={"help": "swift-dpo: least reward gap between chosen and rejected"})
    tokenize_model: str | None = field(default=None, metadata={
        "help": "add input_ids with this model's ms-swift template (needs ms-swift; model folder or id)"})
    template: str | None = field(default=None, metadata={
        "help": "ms-swift template for --tokenize-model (default: rlwhf_model.json's, else the model's own)"})
    max_line_bytes: int = field(default=DEFAULT_MAX_LINE_BYTES, metadata={
        "help": "treat JSONL lines longer than this as invalid; 0 = no limit"})

    def _check_source(self) -> None:
        if bool(self.input) == bool(self.hf_dataset):
            raise RlwhfError("preprocess: give either --input PATH... or --hf-dataset NAME")

    def _check_numbers(self) -> None:
        if self.max_samples is not None and self.max_samples < 1:
            raise RlwhfError(f"--max-samples must be >= 1, got {self.max_samples}")
        if self.min_margin < 1:
            raise RlwhfError(f"--min-margin must be >= 1, got {self.min_margin}")
        if self.max_line_bytes < 0:
            raise RlwhfError(f"--max-line-bytes must be >= 0, got {self.max_line_bytes}")

    def _check_map(self) -> None:
        self.field_map()

    def _check_output(self) -> None:
        if self.output != "-" and self.input and str(Path(self.output).resolve()) in {
                str(Path(p).resolve()) for p in self.input if p != "-"}:
            raise RlwhfError(f"{self.output}: the output would overwrite an input")

    def field_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.map or []:
            target, sep, source = item.partition("=")
            if not sep or not target or not source:
                raise RlwhfError(f"--map {item!r}: expected FIELD=SOURCE, e.g. prompt=question")
            if target not in CANONICAL_FIELDS:
                raise RlwhfError(f"--map {item!r}: {target!r} is not one of {', '.join(CANONICAL_FIELDS)}")
            out[target] = source
        return out


# ---------------------------------------------------------------- sources: (where, line, raw, value)

def expand_inputs(paths: Iterable[str]) -> list[str]:
    """Files as given; a directory becomes its *.jsonl files in name order."""
    out: list[str] = []
    for path in paths:
        p = Path(path)
        if path != "-" and p.is_dir():
            files = sorted(str(f) for f in p.iterdir() if f.is_file() and f.suffix in JSONL_SUFFIXES)
            if not files:
                raise RlwhfError(f"{p}: directory holds no .jsonl files")
            out.extend(files)
        else:
            if path != "-":
                io.check_input_path(p)
            out.append(path)
    return out


def _hf_rows(cfg: PreprocessConfig) -> Iterator[tuple[str, int, Any]]:
    datasets = _require_datasets()
    name = cfg.hf_dataset
    p = Path(name)
    kwargs: dict[str, Any] = {"split": cfg.split, "streaming": cfg.streaming}
    where = f"{name}[{cfg.split}]"
    with _quiet(datasets):  # for the whole read: a streaming load meets a bad file only while iterating
        try:
            ds = _load_hf(datasets, cfg, p, kwargs)
        except RlwhfError:
            raise
        except (FileNotFoundError, ValueError, ConnectionError, OSError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RlwhfError(f"{name}: cannot load dataset: {why}")
        except Exception as exc:  # datasets raises many types (DatasetNotFoundError, KeyError on splits, ...)
            raise RlwhfError(f"{name}: cannot load dataset: {type(exc).__name__}: {exc}") from None
        i = 0
        rows = iter(ds)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except Exception as exc:
                raise RlwhfError(f"{name}: cannot read row {i + 1}: {type(exc).__name__}: {str(exc).splitlines()[0]} "
                                 "(for line-level reasons on a JSONL file, use --input instead)") from None
            i += 1
            yield where, i, row


@contextlib.contextmanager
def _quiet(datasets):
    """datasets logs its own error (through a handler bound to the stderr of its first import) before
    raising one that we report ourselves: keep it to critical messages meanwhile (set once, not per row:
    each change of a logger's level clears every logger's cache)."""
    level = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        yield
    finally:
        datasets.logging.set_verbosity(level)


def _load_hf(datasets, cfg: PreprocessConfig, p: Path, kwargs: dict[str, Any]):
    name = cfg.hf_dataset
    if p.is_dir() and (p / "dataset_info.json").is_file() and (p / "state.json").is_file():
        ds = datasets.load_from_disk(str(p))  # a save_to_disk folder (one split)
        if cfg.streaming:
            ds = ds.to_iterable_dataset()
    elif p.is_file():
        builder = {".jsonl": "json", ".json": "json", ".ndjson": "json", ".csv": "csv",
                   ".parquet": "parquet"}.get(p.suffix)
        if builder is None:
            raise RlwhfError(f"{p}: unknown data file type {p.suffix!r} (jsonl, json, csv, parquet)")
        ds = datasets.load_dataset(builder, data_files=str(p), **kwargs)
    else:
        if cfg.hf_data_files:
            kwargs["data_files"] = cfg.hf_data_files
        ds = datasets.load_dataset(name, cfg.hf_config, **kwargs)
    return ds


def _require_datasets():
    from rlwhf.errors import require

    return require("datasets", "train")


def iter_canonical(cfg: PreprocessConfig, required: tuple[str, ...]) -> Iterator[tuple[str, int, Any, Any]]:
    """(where, line, source line bytes or dataset row, canonical row or RowError) for every input row."""
    field_map = cfg.field_map()
    if cfg.hf_dataset:
        for where, i, obj in _hf_rows(cfg):
            try:
                yield where, i, obj, canonicalize(obj, field_map, strict=cfg.strict, required=required)
            except RowError as err:
                yield where, i, obj, err
        return
    # The rlwhf format writes the canonical row as is: keep msgspec's struct (no dict in between).
    fast = None if field_map else _fast_canonical(required, cfg.strict,
                                                  as_struct=cfg.format == "rlwhf" and not cfg.tokenize_model)
    limit = cfg.max_line_bytes
    for path in expand_inputs(cfg.input or []):
        where = "<stdin>" if path == "-" else path
        fh = track_reads(io.open_input(path), f"preprocess {Path(where).name}")
        try:
            for lineno, raw, terminated in iter_lines(fh):
                row = fast(raw) if fast is not None and (not limit or len(raw) <= limit) else None
                if row is None:
                    try:
                        row = canonicalize(parse_line(raw, terminated, limit), field_map, strict=cfg.strict,
                                           required=required)
                    except RowError as err:
                        row = err
                yield where, lineno, raw, row
        finally:
            if path != "-" or fh is not sys.stdin.buffer:
                fh.close()  # a tracked stdin closes its bar only


def _fast_canonical(required: tuple[str, ...], strict: bool, as_struct: bool = False):
    """msgspec shortcut for rows already in canonical shape (no unknown fields).

    Returns a converter from a line to the canonical row (a struct that encodes exactly like the
    dict when `as_struct`), or None for any row the full rules must judge.
    """
    from msgspec.structs import asdict

    from rlwhf.data import _fast

    full = required == ROW_REQUIRED
    decode = _fast.decoder(_fast.CanonicalRow if full else _fast.PromptRow).decode
    errors, blank = _fast.ERRORS, _fast.blank
    number = (int, float)

    def convert(raw: bytes):
        try:
            r = decode(raw)
        except errors:
            return None
        if blank(r.prompt) or (full and blank(r.answer)):
            return None
        meta = r.metadata
        if meta is None:
            if strict:
                return None
            r.metadata = {}
        elif strict:
            try:
                check_metadata(meta, strict)
            except RowError:
                return None  # the full path reports it
        else:
            conf = meta.get("confidence_score")
            if conf is not None and not (type(conf) in number and 0 <= conf <= 1):
                return None
        if r.feedback is None:
            r.feedback = ""
        if r.id is None:
            r.id = stable_id(r.prompt, r.answer, r.feedback, r.reward, r.reference, r.answerable)
        return r if as_struct else asdict(r)

    return convert


# ---------------------------------------------------------------- formats

def to_swift_grpo(row: dict) -> dict:
    """ms-swift GRPO row: the user turn, plus the columns reward functions receive as kwargs.

    `solution` repeats `reference` for ms-swift's built-in accuracy rewards; `closed_world` carries
    the row's metadata.closed_world mark to the honesty reward (always a boolean, so the column has
    one type).
    """
    return {"messages": [{"role": "user", "content": row["prompt"]}], "reference": row["reference"],
            "solution": row["reference"], "answerable": row["answerable"], "id": row["id"],
            CLOSED_WORLD: is_closed_world(row)}


def to_trl_grpo(row: dict) -> dict:
    """TRL GRPO row: a conversational prompt plus reference/answerable/closed_world for the reward function."""
    return {"prompt": [{"role": "user", "content": row["prompt"]}], "reference": row["reference"],
            "answerable": row["answerable"], "id": row["id"], CLOSED_WORLD: is_closed_world(row)}


def dpo_row(prompt: str, chosen: dict, rejected: dict) -> dict:
    """ms-swift DPO row (messages ending in the chosen answer + rejected_response) plus plain columns."""
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": chosen["answer"]}],
            "rejected_response": rejected["answer"], "prompt": prompt, "chosen": chosen["answer"],
            "rejected": rejected["answer"], "margin": chosen["reward"] - rejected["reward"],
            "chosen_reward": chosen["reward"], "rejected_reward": rejected["reward"],
            "reference": chosen.get("reference"), "answerable": chosen.get("answerable")}


class PairBuilder:
    """Per prompt, keep the highest- and lowest-reward answers (first seen wins ties); memory is
    two rows per prompt, not the whole input."""

    def __init__(self, min_margin: int = 1):
        self.min_margin = min_margin
        self.groups: dict[str, list[dict]] = {}

    def add(self, row: dict) -> None:
        prompt = row["prompt"]
        group = self.groups.get(prompt)
        # Only what a pair row needs, not the whole row with its metadata.
        row = {"answer": row["answer"], "reward": row["reward"], "reference": row["reference"],
               "answerable": row["answerable"]}
        if group is None:
            self.groups[prompt] = [row, row]
            return
        if row["reward"] > group[0]["reward"]:
            group[0] = row
        if row["reward"] < group[1]["reward"]:
            group[1] = row

    def pairs(self) -> Iterator[dict]:
        for prompt, (best, worst) in self.groups.items():
            if best["reward"] - worst["reward"] >= self.min_margin and best["answer"] != worst["answer"]:
                yield dpo_row(prompt, best, worst)

    @property
    def unpaired(self) -> int:
        return sum(1 for best, worst in self.groups.values()
                   if best["reward"] - worst["reward"] < self.min_margin or best["answer"] == worst["answer"])


# ---------------------------------------------------------------- tokenisation (optional)

def _tokenizer(cfg: PreprocessConfig):
    """Encode rows with ms-swift's template for the model, as its EncodePreprocessor does."""
    import json as _json
    import os

    from rlwhf.errors import require

    swift = require("swift", "swift")
    model_type, template_type = None, cfg.template
    meta_file = Path(cfg.tokenize_model) / "rlwhf_model.json"
    if meta_file.is_file():
        meta = _json.loads(meta_file.read_text())
        model_type = meta.get("model_type")
        template_type = template_type or meta.get("template")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        processor = swift.get_processor(cfg.tokenize_model, model_type=model_type, check_model=False)
        template = swift.get_template(processor, template_type=template_type)
    except Exception as exc:  # ms-swift raises plain ValueError/OSError/KeyError for a bad model
        raise RlwhfError(f"{cfg.tokenize_model}: ms-swift cannot load its tokenizer/template: "
                         f"{type(exc).__name__}: {exc}") from None
    from swift.dataset.utils import EncodePreprocessor

    encoder = EncodePreprocessor(template)

    def encode(out: dict) -> dict:
        if "messages" in out:
            messages = out["messages"]
        elif isinstance(out.get("prompt"), list):
            messages = out["prompt"]
        else:
            messages = [{"role": "user", "content": out["prompt"]}]
            if out.get("answer"):
                messages.append({"role": "assistant", "content": out["answer"]})
        enc_row: dict[str, Any] = {"messages": messages}
        if "rejected_response" in out:
            enc_row["messages"] = messages[:-1]  # prompt only: both answers share it
        encoded = encoder.preprocess(enc_row)
        out = dict(out)
        out["input_ids"] = list(encoded["input_ids"])
        out["length"] = int(encoded.get("length", len(out["input_ids"])))
        return out

    return encode


# ---------------------------------------------------------------- the pipeline

def preprocess(cfg: PreprocessConfig, log=None) -> dict:
    """Convert the inputs to `cfg.format` rows in `cfg.output`; return counts.

    Raises RlwhfError(exit_code=1) on an invalid row when `strict_input` is set.

    >>> import json, pathlib; _ = pathlib.Path("p.jsonl").write_text(json.dumps({"prompt": "2+2?", "response": "4", "score": 2}) + "\\n")
    >>> preprocess(PreprocessConfig(output="o.jsonl", input=["p.jsonl"]), log=lambda m: None)["written"]
    1
    """
    from rlwhf.config import check

    check(cfg)
    log = log or (lambda msg: print(msg, file=sys.stderr))
    required = REQUIRED_BY_FORMAT[cfg.format]
    encode = _tokenizer(cfg) if cfg.tokenize_model else None
    reasons: Counter[str] = Counter()
    stats = {"read": 0, "valid": 0, "invalid": 0, "written": 0, "duplicate_prompts": 0, "unpaired_prompts": 0}
    seen = HashSet()
    pairs = PairBuilder(cfg.min_margin) if cfg.format == "swift-dpo" else None
    fmt = {"rlwhf": None, "swift-grpo": to_swift_grpo, "trl-grpo": to_trl_grpo}.get(cfg.format)
    dedupe = cfg.format in ("swift-grpo", "trl-grpo")
    limit = cfg.max_samples
    quarantine = JsonlWriter(cfg.quarantine) if cfg.quarantine else None
    out = JsonlWriter(cfg.output)
    ok = False
    try:
        for where, line, raw, row in iter_canonical(cfg, required):
            stats["read"] += 1
            if isinstance(row, RowError):
                stats["invalid"] += 1
                reasons[row.rule] += 1
                if cfg.strict_input:
                    raise RlwhfError(f"{where}:{line}: {row} (--strict-input)", exit_code=1)
                if stats["invalid"] <= PRINT_LIMIT:
                    log(f"{where}:{line}: {row}")
                if quarantine is not None:
                    quarantine.write({"file": where, "line": line, "rule": row.rule, "reason": str(row),
                                      "raw": _raw_for_quarantine(raw)})
                continue
            stats["valid"] += 1
            if pairs is not None:
                pairs.add(row)
                continue
            if dedupe:
                # 64-bit hashes: a collision (~1e-8 at a million prompts) would drop one prompt
                if not seen.add(hash(row["prompt"])):
                    stats["duplicate_prompts"] += 1
                    continue
            result = fmt(row) if fmt is not None else row
            out.write(encode(result) if encode else result)
            stats["written"] += 1
            if limit is not None and stats["written"] >= limit:
                break
        if pairs is not None:
            for result in pairs.pairs():
                out.write(encode(result) if encode else result)
                stats["written"] += 1
                if limit is not None and stats["written"] >= limit:
                    break
            stats["unpaired_prompts"] = pairs.unpaired
        ok = True
    finally:
        for writer in (out, quarantine):
            if writer is not None:
                writer.close() if ok else writer.abort()
    if stats["invalid"] > PRINT_LIMIT:
        log(f"... {stats['invalid'] - PRINT_LIMIT} more invalid rows (use --quarantine FILE to keep them all)")
    if stats["duplicate_prompts"]:
        log(f"{cfg.format}: {stats['duplicate_prompts']} rows repeat an earlier prompt; GRPO needs unique prompts, "
            "kept the first of each")
    if stats["unpaired_prompts"]:
        log(f"swift-dpo: {stats['unpaired_prompts']} prompts have no answer pair {cfg.min_margin}+ reward apart")
    stats["reasons"] = dict(reasons.most_common())
    stats["format"] = cfg.format
    stats["output"] = cfg.output
    return stats


def _raw_for_quarantine(source: Any) -> str:
    """The JSONL line as text, or a dataset row as JSON (non-JSON values via str)."""
    if isinstance(source, bytes):
        return io.raw_text(source)
    import json

    return json.dumps(source, ensure_ascii=False, default=str)
