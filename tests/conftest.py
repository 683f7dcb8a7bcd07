"""Shared fixtures: every test writes under a temp dir, nothing touches the network,
and tiny models are built locally (never downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
ASSETS = Path(__file__).parent / "assets"


@pytest.fixture(autouse=True)
def _writes_to_tmp(tmp_path, monkeypatch):
    """Run each test from its own temp dir so stray relative writes never land in the repo."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RLWHF_CACHE_DIR", str(tmp_path / ".rlwhf_cache"))
    yield


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A loadable, untrained Qwen2 policy (hidden 64, 2 layers) with a locally trained tokenizer.

    Seconds to build; for tests that need something ms-swift / TRL can load, not a good policy.
    """
    pytest.importorskip("torch", reason="needs the train extra: pip install -r requirements.txt")
    from rlwhf.model.tiny import TinyModelConfig, build_untrained

    texts = [
        f"What is {a} plus {b}? The answer is {a + b}. I believe the answer is {a + b}, but I'm not certain. "
        "I don't know. What is the capital of France? Paris."
        for a in range(20)
        for b in range(20)
    ]
    out = tmp_path_factory.mktemp("tiny_model") / "policy"
    cfg = TinyModelConfig(vocab_size=512, hidden_size=64, num_hidden_layers=2, intermediate_size=128)
    return build_untrained(out, texts, cfg)
