"""The `>>>` examples in the reward modules run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["rlwhf.reward.rubric", "rlwhf.reward.learned", "rlwhf.reward.shaping",
                                    "rlwhf.integrations.trl", "rlwhf.reward.teacher_reward"])
def test_docstring_examples(module, monkeypatch):
    monkeypatch.delenv("RLWHF_REWARD_ARTIFACT", raising=False)
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
