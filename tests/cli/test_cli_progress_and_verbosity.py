"""Progress bars show on a terminal and not in a pipe or with -q; -q / -v set the log level; in a log file
long work writes a few lines instead of a bar. Commands run as real processes on a real pseudo-terminal,
except where a fake terminal in-process is enough (the SFT loop, a served student)."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RLWHF_PROGRESS"}
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return {**env, **extra}


def _logs(path: Path, n: int = 3000) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"prompt": f"What is {i}+1?", "answer": str(i + 1), "reward": 2}) + "\n")
    return path


def _stderr_on_a_terminal(argv: list[str], **env) -> tuple[int, str]:
    """Run `python -m rlwhf ARGV` with stderr on a pseudo-terminal (stdout a pipe); (rc, stderr text)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "rlwhf", *argv], stdout=subprocess.PIPE, stderr=slave,
                            env=_env(**env))
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    proc.communicate(timeout=120)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_gate_shows_a_bar_on_a_terminal_and_not_with_q(tmp_path):
    logs = _logs(tmp_path / "logs.jsonl")
    rc, err = _stderr_on_a_terminal(["data", "gate", str(logs)])
    assert rc == 0 and "gate: 100%" in err, err
    rc, err = _stderr_on_a_terminal(["-q", "data", "gate", str(logs)])
    assert rc == 0 and "gate:" not in err, err


def test_no_bar_in_a_pipe_unless_forced(tmp_path):
    logs = _logs(tmp_path / "logs.jsonl")
    run = [sys.executable, "-m", "rlwhf", "data", "preprocess", "--input", str(logs), "--output",
           str(tmp_path / "out.jsonl"), "--format", "swift-grpo"]
    plain = subprocess.run(run, capture_output=True, text=True, env=_env(), timeout=120)
    assert plain.returncode == 0 and "%|" not in plain.stderr, plain.stderr
    forced = subprocess.run(run, capture_output=True, text=True, env=_env(RLWHF_PROGRESS="1"), timeout=120)
    assert forced.returncode == 0 and "preprocess logs.jsonl: 100%" in forced.stderr, forced.stderr
    assert json.loads(forced.stdout)["written"] == 3000  # the bar changes nothing in the output


def test_reward_build_shows_its_epochs(tmp_path):
    logs = _logs(tmp_path / "logs.jsonl", 200)
    done = subprocess.run([sys.executable, "-m", "rlwhf", "reward", "build", "--dataset", str(logs),
                           "--output-dir", str(tmp_path / "reward"), "--epochs", "2"],
                          capture_output=True, text=True, env=_env(RLWHF_PROGRESS="1"), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "reward build: 100%" in done.stderr and "2/2" in done.stderr


# -- the tiny SFT and evaluate (generation, a served student, grading) ---------------------------------

ASSETS = Path(__file__).resolve().parents[1] / "assets"
PROMPTS = ASSETS / "seed_workflow_prompts.jsonl"


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _sft(policy, steps: int = 4) -> None:
    from rlwhf.policy.tiny import TinyPolicyConfig, sft

    model, tokenizer = policy
    sft(model, tokenizer, TinyPolicyConfig(sft_steps=steps, batch_size=4, warmup_steps=1, max_position_embeddings=128))


def test_tiny_sft_bar_log_lines_and_quiet(tiny_model_dir, monkeypatch, capsys):
    from rlwhf.progress import configure_logging

    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.delenv("RLWHF_PROGRESS", raising=False)
    policy = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), AutoTokenizer.from_pretrained(str(tiny_model_dir))
    capsys.readouterr()  # transformers' own loading bar, drawn by this test
    configure_logging(0)
    try:
        # A terminal: a bar with the loss beside it, no log lines.
        monkeypatch.setattr(sys, "stderr", _FakeTerminal())
        _sft(policy)
        err = sys.stderr.getvalue()
        assert "sft: 100%" in err and "4/4" in err and "loss" in err and "sft step" not in err, err
        # -q on a terminal: nothing at all.
        configure_logging(-1)
        monkeypatch.setattr(sys, "stderr", _FakeTerminal())
        _sft(policy)
        assert sys.stderr.getvalue() == ""
        # Not a terminal (a CI log): lines every 5% of the steps, never a bar.
        configure_logging(0)
        monkeypatch.undo()
        monkeypatch.delenv("RLWHF_PROGRESS", raising=False)
        _sft(policy)
        err = capsys.readouterr().err
        assert [line.split(" loss")[0] for line in err.splitlines()] == [f"sft step {i}/4" for i in (1, 2, 3, 4)], err
    finally:
        configure_logging(0)


@pytest.mark.slow  # two real `rlwhf evaluate` processes (torch imports): ~20-60 s on a shared machine
def test_evaluate_bars_on_a_terminal_and_nothing_with_q(tiny_model_dir, tmp_path):
    argv = ["evaluate", "--model", str(tiny_model_dir), "--prompts", str(PROMPTS), "--max-new-tokens", "4"]
    rc, err = _stderr_on_a_terminal([*argv, "--output-dir", str(tmp_path / "a")])
    assert rc == 0 and "generate: 100%" in err and "grade: 100%" in err and "6/6" in err, err
    rc, err = _stderr_on_a_terminal(["-q", *argv, "--output-dir", str(tmp_path / "b")])
    assert rc == 0 and err.strip() == "", err


def test_served_student_and_grading_in_a_log_and_forced_on(tmp_path, monkeypatch, capsys):
    from _loopback_teacher import LoopbackTeacher

    from rlwhf.cli.main import main

    monkeypatch.delenv("RLWHF_PROGRESS", raising=False)
    with LoopbackTeacher() as student:  # any OpenAI-compatible server can be the student
        argv = ["evaluate", "--student-base-url", student.url, "--student-model", "teacher", "--prompts", str(PROMPTS)]
        assert main([*argv, "--output-dir", "a"]) == 0
        err = capsys.readouterr().err
        assert "%|" not in err  # not a terminal: quarter-way lines instead of a bar
        assert "[rlwhf evaluate] student answered 6/6" in err and "[rlwhf evaluate] graded 6/6" in err, err
        monkeypatch.setenv("RLWHF_PROGRESS", "1")
        assert main([*argv, "--output-dir", "b"]) == 0
        err = capsys.readouterr().err
        assert "student: 100%" in err and "grade: 100%" in err and "answered 6/6" not in err, err
