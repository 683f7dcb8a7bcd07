"""Encode preprocessed GRPO rows with ms-swift's own EncodePreprocessor, when it can run here.

The seed's preprocess step "calls ms-swift's EncodePreprocessor when available". It can run when ms-swift
is installed and the configured model's tokenizer loads from a local folder (nothing is downloaded). Then
the rows go through `EncodePreprocessor(template)(dataset, num_proc, batch_size)`, batched as ms-swift
does when it pre-tokenizes, and the report says how long the prompts are in tokens and which rows the
template could not encode (by line), e.g. prompts longer than the model's context. Otherwise the rows
stay as converted (ms-swift encodes them itself at training time) and the report says why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

REPORT_SUFFIX = ".encode.json"


def _why_not(model: str | None) -> str | None:
    if importlib.util.find_spec("swift") is None:
        return "ms-swift is not installed (pip install \"rlwhf[swift]\")"
    if model is None:
        return ("no model is configured whose tokenizer loads locally (give --model DIR, set RLWHF_MODEL, or build "
                "the embedded policy: rlwhf model tiny --output DIR)")
    if not Path(model).is_dir():
        return f"{model} is not a local folder (a hub id would need a download)"
    if not any((Path(model) / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.json")):
        return f"{model} has no tokenizer files"
    return None


def encode_report(rows_path: str | Path, model: str | None, source: str = "given", num_proc: int = 1,
                  batch_size: int = 1000) -> dict:
    """Encode `rows_path` (ms-swift GRPO/DPO rows) with `model`'s tokenizer through EncodePreprocessor when
    possible; writes and returns the report {"encoded": bool, "why": ..., ...} beside the rows
    (ROWS.encode.json). `source` says where the model came from, for the report."""
    rows_path = Path(rows_path)
    why = _why_not(model)
    report: dict = {"rows": str(rows_path), "model": model, "model_source": source}
    if why is None:
        try:
            report.update(_encode(rows_path, Path(model), num_proc, batch_size))
            report.update(encoded=True, why=f"ms-swift is installed and {model}'s tokenizer loads locally")
        except Exception as exc:  # a template that cannot handle this model: convert-only, and say so
            why = f"ms-swift could not encode with {model}: {type(exc).__name__}: {exc}"
    if why is not None:
        report.update(encoded=False, why=why + "; the rows are converted without encoding (ms-swift encodes them "
                                               "when it trains)")
    out = rows_path.with_name(rows_path.name + REPORT_SUFFIX)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    report["report"] = str(out)
    return report


def _template_of(model: Path) -> tuple[str | None, str | None]:
    meta = model / "rlwhf_model.json"  # the embedded policy says which model_type/template it needs
    if meta.is_file():
        info = json.loads(meta.read_text())
        return info.get("model_type"), info.get("template")
    return None, None


def _encode(rows_path: Path, model: Path, num_proc: int, batch_size: int) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from datasets import Dataset
    from swift.dataset import EncodePreprocessor
    from swift.model import get_processor
    from swift.template import get_template

    t0 = time.perf_counter()
    model_type, template_type = _template_of(model)
    processor = get_processor(str(model), model_type=model_type, download_model=False)
    config = model / "config.json"
    max_length = json.loads(config.read_text()).get("max_position_embeddings") if config.is_file() else None
    template = get_template(processor, template_type=template_type, max_length=max_length,
                            truncation_strategy="raise")
    from rlwhf.data.io import iter_objects

    rows = [row for _, row in iter_objects(rows_path)]  # preprocess wrote them: line i is row i
    lengths, failed = [], []
    # Batched like ms-swift's own pre-tokenization; a row the template rejects is found by encoding its
    # batch row by row, so each failure is named by line.
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        try:
            encoded = EncodePreprocessor(template)(Dataset.from_list(chunk), num_proc=num_proc,
                                                   load_from_cache_file=False, strict=True, batch_size=batch_size)
            lengths += list(encoded["length"])
        except Exception:
            for i, row in enumerate(chunk, start=start + 1):
                try:
                    lengths.append(template.encode(row, return_length=True)["length"])
                except Exception as exc:
                    failed.append({"line": i, "reason": f"{type(exc).__name__}: {exc}"[:300]})
    return {"path": "ms-swift EncodePreprocessor", "template": template.template_meta.template_type
            if hasattr(template, "template_meta") else template_type, "max_length": max_length,
            "encoded_rows": len(lengths), "failed_rows": failed,
            "prompt_tokens": {"max": max(lengths, default=0),
                              "mean": round(sum(lengths) / len(lengths), 2) if lengths else 0.0},
            "seconds": round(time.perf_counter() - t0, 2)}
