"""Shared reward fixtures: a small graded corpus and an artifact built from it once per session."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def synth_logs(tmp_path_factory):
    """5,000 rows of the built-in corpus (train and held-out prompts, all five styles)."""
    from rlwhf.data.synth import iter_synth

    path = tmp_path_factory.mktemp("reward_data") / "logs.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for row in iter_synth(n=5000, seed=0):
            fh.write(json.dumps(row) + "\n")
    return path


@pytest.fixture(scope="session")
def artifact(synth_logs, tmp_path_factory):
    from rlwhf.reward.learned import RewardBuildConfig, build

    out = tmp_path_factory.mktemp("reward_artifact")
    build(synth_logs, out, RewardBuildConfig(epochs=4))
    return out / "honesty_reward_model.json"
