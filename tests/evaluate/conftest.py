"""Fixtures of the evaluate tests: the flaky teacher server, recorded back-off delays, a fake judge."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from _evaluate_server import FlakyServer


@pytest.fixture
def flaky_server():
    with FlakyServer() as server:
        yield server


@pytest.fixture
def recorded_sleeps(monkeypatch):
    """Back-off delays the client asked for, without waiting them out."""
    import rlwhf.evaluate.online as online

    delays: list[float] = []
    monkeypatch.setattr(online, "_sleep", delays.append)
    return delays


class FakeJudgement(NamedTuple):
    grade: int
    verdict: str
    feedback: str


def _fake_judge(prompt, completion, reference=None, answerable=None):
    text = completion.lower()
    if "don't know" in text or "cannot be known" in text or "nobody can know" in text:
        return FakeJudgement(0, "abstained", "abstained")
    if answerable is not False and reference and reference.lower() in text:
        return FakeJudgement(2, "correct", "matches the reference")
    return FakeJudgement(-2, "incorrect", "does not match")


@pytest.fixture
def fake_judge():
    """A minimal judge with rlwhf.reward.judge's signature: tests the teacher plumbing, not the rubric."""
    return _fake_judge
