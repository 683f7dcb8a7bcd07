"""Fixtures for the plan tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def local_model(tmp_path) -> Path:
    """A folder shaped like `rlwhf model tiny` output: enough to plan for (no weights needed)."""
    d = tmp_path / "policy"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "rlwhf_model.json").write_text(json.dumps({"model_type": "qwen2", "template": "chatml"}))
    return d
