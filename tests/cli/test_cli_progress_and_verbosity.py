"""Progress bars show on a terminal and not in a pipe or with -q; -q / -v set the log level. The
commands run as real processes, the terminal is a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

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
