"""Checkpoints: which are complete (safe to resume from), and turning the last one into a model folder.

A run killed with SIGKILL can leave `checkpoint-N/` half written. HF's Trainer writes the weights,
then optimizer/scheduler/RNG state, and `trainer_state.json` last, so a complete checkpoint has a
parseable trainer_state.json and weight files whose sizes match their own headers/indexes.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

_CKPT = re.compile(r"^checkpoint-(\d+)$")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors", "adapter_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
# What a folder needs beside the weights for AutoTokenizer / ms-swift to load it.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "vocab.json", "merges.txt", "added_tokens.json", "tokenizer.model")
MODEL_SIDE_FILES = ("rlwhf_model.json", "generation_config.json")


def list_checkpoints(root: str | Path) -> list[Path]:
    """Every `checkpoint-N` folder under `root` (all run versions; symlinks such as ms-swift's
    `last-checkpoint` are skipped), ordered by step then age."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.rglob("checkpoint-*") if p.is_dir() and not p.is_symlink() and _CKPT.match(p.name)]
    found = [p for p in found if "telemetry" not in p.relative_to(root).parts]
    return sorted(found, key=lambda p: (int(_CKPT.match(p.name).group(1)), p.stat().st_mtime))


def checkpoint_problem(ckpt: str | Path) -> str | None:
    """Why a checkpoint cannot be resumed from, or None when it is complete."""
    ckpt = Path(ckpt)
    state = ckpt / "trainer_state.json"
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no trainer_state.json (killed while saving?)"
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return "trainer_state.json is not readable JSON"
    if not isinstance(data, dict) or not isinstance(data.get("global_step"), int):
        return "trainer_state.json has no global_step"
    for name in INDEX_FILES:
        if (ckpt / name).is_file():
            return _index_problem(ckpt / name)
    weights = [ckpt / name for name in WEIGHT_FILES if (ckpt / name).is_file()]
    if not weights:
        return "no weight file (" + ", ".join(WEIGHT_FILES) + ")"
    for path in weights:
        problem = _weights_problem(path)
        if problem:
            return problem
    return None


def _index_problem(index: Path) -> str | None:
    try:
        shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError):
        return f"{index.name} is not a readable weight index"
    for shard in sorted(shards):
        if not (index.parent / shard).is_file():
            return f"shard {shard} listed in {index.name} is missing"
        problem = _weights_problem(index.parent / shard)
        if problem:
            return problem
    return None


def _weights_problem(path: Path) -> str | None:
    size = path.stat().st_size
    if size == 0:
        return f"{path.name} is empty"
    if path.suffix != ".safetensors":
        return None
    # safetensors: 8-byte little-endian header length, JSON header, then the tensors' bytes.
    try:
        with open(path, "rb") as fh:
            (header_len,) = struct.unpack("<Q", fh.read(8))
            if header_len > size - 8:
                return f"{path.name} is truncated (header longer than the file)"
            header = json.loads(fh.read(header_len))
    except (OSError, struct.error, ValueError):
        return f"{path.name} has an unreadable header"
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if size < 8 + header_len + end:
        return f"{path.name} is truncated ({size} bytes, header says {8 + header_len + end})"
    return None


def global_step(ckpt: str | Path) -> int:
    return int(json.loads((Path(ckpt) / "trainer_state.json").read_text(encoding="utf-8"))["global_step"])


def latest_complete(root: str | Path, log=None, since: float | None = None) -> Path | None:
    """The newest complete checkpoint under `root` (saved since `since`, a time.time() value, when
    given); incomplete ones are reported through `log`."""
    for ckpt in reversed(list_checkpoints(root)):
        if since is not None and ckpt.stat().st_mtime < since:
            continue
        problem = checkpoint_problem(ckpt)
        if problem is None:
            return ckpt
        if log:
            log(f"skipping {ckpt}: {problem}")
    return None


def finalize_model(ckpt: str | Path, source_model: str | Path | None, log=None) -> Path:
    """Make a checkpoint a folder AutoModelForCausalLM / AutoTokenizer (and ms-swift) can load.

    Tokenizer files and `rlwhf_model.json` (model_type/template for ms-swift) are copied from the
    source model where the trainer did not write them. A LoRA checkpoint is merged into its base
    model, saved beside it as `checkpoint-N-merged`, and that folder is returned.
    """
    ckpt = Path(ckpt)
    source = Path(source_model) if source_model and Path(source_model).is_dir() else None
    if source is not None:
        for name in TOKENIZER_FILES + MODEL_SIDE_FILES:
            if (source / name).is_file() and not (ckpt / name).exists():
                shutil.copy2(source / name, ckpt / name)
                if log:
                    log(f"copied {name} from {source} into {ckpt.name}")
    if (ckpt / "adapter_config.json").is_file():
        return _merge_lora(ckpt, source, log)
    return ckpt


def _merge_lora(ckpt: Path, source: Path | None, log=None) -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = ckpt.parent / f"{ckpt.name}-merged"
    if (merged / "config.json").is_file():
        return merged
    config = json.loads((ckpt / "adapter_config.json").read_text(encoding="utf-8"))
    base_path = str(source) if source is not None else config.get("base_model_name_or_path")
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(ckpt)).merge_and_unload()
    model.save_pretrained(merged)
    tok_dir = ckpt if (ckpt / "tokenizer_config.json").is_file() else base_path
    AutoTokenizer.from_pretrained(tok_dir).save_pretrained(merged)
    if source is not None and (source / "rlwhf_model.json").is_file():
        shutil.copy2(source / "rlwhf_model.json", merged / "rlwhf_model.json")
    if log:
        log(f"merged the LoRA adapter of {ckpt.name} into {merged}")
    return merged
