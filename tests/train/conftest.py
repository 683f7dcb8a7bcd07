"""Helpers for the training tests: plans around the fake trainer (fast supervisor tests)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ASSETS = Path(__file__).resolve().parents[1] / "assets"
FAKE_TRAINER = ASSETS / "train_fake_trainer.py"


def write_plan(path: Path, args: dict, env: dict | None = None, algo: str = "grpo", backend: str = "swift") -> Path:
    """A plan file as `rlwhf plan` writes it (LaunchPlan.write: args and env, command and shell rendered)."""
    from rlwhf.plan import LaunchPlan

    return LaunchPlan(algo=algo, args=args, env=env or {}, backend=backend, profile="cpu").write(path)


@pytest.fixture
def fake_swift(tmp_path, monkeypatch) -> Path:
    """A `swift` executable on PATH that runs the fake trainer: plans keep ms-swift's own argv
    (`swift rlhf --flag value ...`), so the fallback cascade's re-rendered commands run it too."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "swift"
    # Like ms-swift's CLI: a launcher that runs the trainer as a child and exits with its status.
    exe.write_text(f"#!{sys.executable}\nimport subprocess, sys\n"
                   f"sys.exit(subprocess.run([sys.executable, {str(FAKE_TRAINER)!r}, *sys.argv[1:]]).returncode)\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return exe


@pytest.fixture
def fake_plan(tmp_path, fake_swift):
    """fake_plan(**flags) -> a plan of `swift rlhf ...` run by the fake trainer."""

    def make(name: str = "plan.json", **flags) -> Path:
        args = {"rlhf_type": "grpo", "model": str(tmp_path / "model"), "dataset": "data.jsonl",
                "output_dir": str(tmp_path / "out"), "max_steps": 4, "save_steps": 2,
                "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1, "num_generations": 4}
        args.update(flags)
        return write_plan(tmp_path / name, args)

    return make
