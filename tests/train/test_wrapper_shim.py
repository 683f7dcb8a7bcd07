"""The seed's plugins/core/grpo_production_wrapper.py is a shim over `rlwhf train`."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_seed_wrapper_runs_a_plan_like_rlwhf_train(fake_plan, tmp_path):
    plan = fake_plan(max_steps=2)
    proc = subprocess.run([sys.executable, str(REPO / "plugins/core/grpo_production_wrapper.py"),
                           "--plan", str(plan), "--no-progress"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["global_step"] == 2
    assert (tmp_path / "out" / "telemetry" / "summary.json").is_file()


def test_the_seed_wrapper_names_a_missing_plan():
    proc = subprocess.run([sys.executable, str(REPO / "plugins/core/grpo_production_wrapper.py"),
                           "--plan", "nowhere.json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "nowhere.json: plan file not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_library_entry_point(fake_plan):
    sys.path.insert(0, str(REPO))
    try:
        from plugins.core.grpo_production_wrapper import run
    finally:
        sys.path.remove(str(REPO))
    assert run(str(fake_plan(max_steps=2)), progress=False)["global_step"] == 2
