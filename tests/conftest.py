"""Shared fixtures: every test writes under a temp dir, nothing touches the network,
and tiny models are built locally (never downloaded)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pytest
from _loopback_teacher import FLAKY, LoopbackTeacher, grade_by_index

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# `python -m pytest` runs on two pytest-xdist workers (pyproject.toml): each worker's torch takes its share of the
# cores rather than all of them, so two trainings at once do not fight over threads.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _cores // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

REPO = Path(__file__).resolve().parents[1]
ASSETS = Path(__file__).parent / "assets"


@pytest.fixture(autouse=True)
def _writes_to_tmp(tmp_path, monkeypatch):
    """Run each test from its own temp dir so stray relative writes never land in the repo."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RLWHF_CACHE_DIR", str(tmp_path / ".rlwhf_cache"))
    yield


@pytest.fixture(scope="session")
def embedded_policy_cache(tmp_path_factory) -> Path:
    """A cache holding the embedded default policy (`rlwhf model tiny` with the launch's seed, exactly what
    `rlwhf launch` runs for its policy stage: same cache key), built once per test session: its SFT takes
    minutes on 2 cores, so every test that needs the real default policy takes it from here. Tests point
    RLWHF_CACHE_DIR at it, as a user's machine is after the first run. Those tests carry
    `xdist_group("embedded_policy")`, so pytest-xdist runs them on one worker and the policy is built once.
    $RLWHF_TEST_CACHE_DIR names an existing cache to reuse across sessions (the policy is then copied from it
    in seconds)."""
    import subprocess
    import sys

    from rlwhf.launch import LaunchConfig

    cache = Path(os.environ.get("RLWHF_TEST_CACHE_DIR") or tmp_path_factory.mktemp("rlwhf_cache"))
    env = {**os.environ, "RLWHF_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    build = tmp_path_factory.mktemp("embedded_policy") / "policy"
    done = subprocess.run([sys.executable, "-m", "rlwhf", "model", "tiny", "--output", str(build),
                           "--seed", str(LaunchConfig().seed)], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return cache


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A loadable, untrained Qwen2 policy (hidden 64, 2 layers) with a locally trained tokenizer.

    Seconds to build; for tests that need something ms-swift / TRL can load, not a good policy.
    """
    pytest.importorskip("torch", reason="needs the train extra: pip install -r requirements.txt")
    from rlwhf.policy.tiny import TinyModelConfig, build_untrained

    texts = [
        f"What is {a} plus {b}? The answer is {a + b}. I believe the answer is {a + b}, but I'm not certain. "
        "I don't know. What is the capital of France? Paris."
        for a in range(20)
        for b in range(20)
    ]
    out = tmp_path_factory.mktemp("tiny_model") / "policy"
    cfg = TinyModelConfig(vocab_size=512, hidden_size=64, num_hidden_layers=2, intermediate_size=128)
    return build_untrained(out, texts, cfg)


# -- the loopback teacher (tests/_loopback_teacher.py) and what the teacher tests share ---------------


@pytest.fixture
def flaky_server():
    """The loopback teacher misbehaving in the ten-row FLAKY pattern, grading row i `expected_grade(i)`."""
    with LoopbackTeacher(grader=grade_by_index, script=FLAKY, hang_s=1.0) as server:
        yield server


@pytest.fixture
def recorded_sleeps(monkeypatch):
    """Back-off delays the client asked for, without waiting them out."""
    import rlwhf.teacher.client as online

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


# -- ms-swift's own OpenAI-compatible server as a teacher (started once per session) ---------------------


@pytest.fixture(scope="session")
def swift_deploy_teacher(tmp_path_factory):
    """`swift deploy` serving an untrained tiny policy as model `teacher` (it writes nonsense): a real
    OpenAI-compatible server nobody here wrote. Yields its …/v1 URL; stopped by the process group it started."""
    pytest.importorskip("swift", reason="needs the swift extra: pip install -r requirements.txt")
    import signal
    import socket
    import subprocess
    import time
    import urllib.request

    from rlwhf.policy.tiny import TinyModelConfig, build_untrained

    root = tmp_path_factory.mktemp("swift_deploy")
    texts = [f"What is {a} plus {b}? The answer is {a + b}. I don't know. Grade the student answer." for a in range(20)
             for b in range(20)]
    # The rubric prompt is ~1.5k tokens of this tiny vocabulary: the context must hold it.
    model = build_untrained(root / "teacher", texts, TinyModelConfig(
        vocab_size=512, hidden_size=64, num_hidden_layers=2, intermediate_size=128, max_position_embeddings=4096))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(root / "deploy.log", "wb")
    proc = subprocess.Popen(
        ["swift", "deploy", "--model", str(model), "--model_type", "qwen2", "--template", "chatml",
         "--infer_backend", "transformers", "--host", "127.0.0.1", "--port", str(port),
         "--served_model_name", "teacher", "--max_length", "4096", "--max_new_tokens", "24"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"swift deploy did not come up (exit {proc.poll()}): "
                            + (root / "deploy.log").read_text(errors="replace")[-2000:])
            time.sleep(1)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the CLI runs the server in a child: stop the group we started
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
