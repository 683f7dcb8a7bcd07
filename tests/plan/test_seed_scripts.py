"""The seed's entry points over rlwhf.plan / rlwhf.hardware: vendor_ms_swift, grpo_rlwhf_wrapper,
unsloth_standby_runner (hardware_fallback_cascade is tested beside the cascade)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import rlwhf.plan.swift_env as swift_env
from rlwhf.errors import RlwhfError
from rlwhf.hardware.standby import standby_status
from rlwhf.plan import LaunchPlan

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "assets" / "plan_grpo_rows.jsonl"
OFFLINE = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def script(*parts: str) -> str:
    return str(REPO.joinpath(*parts))




def test_vendor_is_idempotent_when_the_pin_is_installed(monkeypatch, capsys):
    def no_pip(*args, **kw):
        raise AssertionError(f"pip was called: {args}")

    monkeypatch.setattr(swift_env, "_pip", no_pip)
    result = swift_env.ensure_ms_swift()
    assert result["installed_now"] == [] and result["ms_swift"] == "4.6.0"
    assert "ms-swift==4.6.0" in result["requirements"] and any(r.startswith("msgspec") for r in result["requirements"])
    done = subprocess.run([sys.executable, script("scripts", "setup", "vendor_ms_swift.py")], env=OFFLINE,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "ms-swift 4.6.0 (already installed" in done.stdout


def test_vendor_says_clearly_when_the_registry_is_unreachable(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip behaves as offline: the test never touches the network
    with pytest.raises(RlwhfError, match="registry is not reachable"):
        swift_env.ensure_ms_swift(requirements=["rlwhf-test-absent-package==1.0"])
    done = subprocess.run([sys.executable, script("scripts", "setup", "vendor_ms_swift.py"), "--source",
                           str(tmp_path / "vendor" / "ms-swift-sub")], env=OFFLINE, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2
    assert "could not download the ms-swift 4.6.0 source distribution" in done.stderr
    assert "offline" in done.stderr and "Traceback" not in done.stderr


def _tarball(path: Path, entries: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_unpack_sdist_and_the_marker_makes_it_idempotent(tmp_path, monkeypatch):
    archive = _tarball(tmp_path / "ms_swift-4.6.0.tar.gz", {"ms_swift-4.6.0/setup.py": b"# x\n",
                                                           "ms_swift-4.6.0/swift/__init__.py": b""})
    dest = swift_env.unpack_sdist(archive, tmp_path / "vendor" / "ms-swift-sub")
    assert (dest / "setup.py").is_file() and (dest / "swift" / "__init__.py").is_file()
    evil = _tarball(tmp_path / "evil.tar.gz", {"../escape.py": b"x"})
    with pytest.raises(RlwhfError, match="unsafe entry"):
        swift_env.unpack_sdist(evil, tmp_path / "out")
    (dest / ".rlwhf_sdist").write_text("ms-swift==4.6.0\n")
    monkeypatch.setattr(swift_env, "_pip", lambda *a, **k: pytest.fail("pip called although unpacked"))
    assert swift_env.ensure_ms_swift(source_dir=dest)["source_dir"] == str(dest)


def test_grpo_wrapper_writes_the_plan_and_gives_the_bundle(local_model, tmp_path):
    out = tmp_path / "plan.json"
    done = subprocess.run([sys.executable, script("plugins", "core", "grpo_rlwhf_wrapper.py"), "--profile", "cpu",
                           "--model", str(local_model), "--dataset", str(DATA), "--output", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["algo"] == "grpo"
    spec = importlib.util.spec_from_file_location("grpo_rlwhf_wrapper", script("plugins", "core", "grpo_rlwhf_wrapper.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bundle = module.launch_bundle("cpu", model=str(local_model), dataset=str(DATA))
    assert set(bundle) == {"command", "args", "env"}
    assert bundle["args"]["reward_funcs"] == ["rlwhf_honesty"] and bundle["command"][:2] == ["swift", "rlhf"]


def test_standby_runner_writes_plan_and_telemetry_and_says_why(local_model, tmp_path):
    done = subprocess.run([sys.executable, script("scripts", "training", "unsloth_standby_runner.py"),
                           "--model", str(local_model), "--dataset", str(DATA)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    plan = LaunchPlan.load(tmp_path / "workspace" / "plans" / "ms_swift_grpo_launch.json")
    report = json.loads((tmp_path / "workspace" / "telemetry" / "unsloth_standby_report.json").read_text())
    assert plan.algo == "grpo" and report["shell"] == plan.shell
    assert report["memory"]["process_peak_rss_gb"] > 0 and report["memory"]["system"]["total_gb"] > 0
    assert report["hardware"]["cpu"]["cores"] >= 1
    if not report["unsloth_standby"]["available"]:  # this machine: no GPU, no unsloth, no vllm
        assert "Unsloth Standby: unavailable here: " in done.stdout
        for reason in report["unsloth_standby"]["reasons"]:
            assert reason in done.stdout
        assert "UNSLOTH_VLLM_STANDBY" not in plan.env


def test_standby_status_names_each_missing_piece(monkeypatch):
    import rlwhf.hardware.standby as standby

    monkeypatch.setattr(standby, "installed", lambda dist: False)
    none = standby_status({"cuda": {"count": 0}, "packages": {}})
    assert none["available"] is False and len(none["reasons"]) == 3
    ready = standby_status({"cuda": {"count": 1}, "packages": {"unsloth": "2025.1", "vllm": "0.8"}})
    assert ready == {"available": True, "reasons": []}
    no_vllm = standby_status({"cuda": {"count": 1}, "packages": {"unsloth": "2025.1", "vllm": None}})
    assert no_vllm["reasons"] == ["vllm is not installed"]


def test_standby_runner_without_arguments_needs_step_1_first_and_says_so(tmp_path):
    """No arguments and no preprocessed rows yet: one clear line naming step 1, before any policy is built."""
    env = {**os.environ, "RLWHF_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, script("scripts", "training", "unsloth_standby_runner.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "workspace/data/ms_swift_grpo.jsonl: no preprocessed GRPO rows" in done.stderr
    assert "python3 scripts/data_pipeline/ms_swift_preprocess.py --streaming" in done.stderr
    assert not (tmp_path / "cache").exists()  # nothing was built


def test_rlwhf_max_steps_caps_the_preset_and_a_bad_value_is_named(monkeypatch):
    from rlwhf.preset import load_preset

    uncapped = load_preset().sha256
    monkeypatch.setenv("RLWHF_MAX_STEPS", "2")
    preset = load_preset()
    assert preset.algo("grpo").max_steps == 2 and preset.algo("dpo").max_steps == 2
    assert preset.sha256 != uncapped  # a cache key of the preset sees the cap
    monkeypatch.setenv("RLWHF_MAX_STEPS", "two")
    with pytest.raises(RlwhfError, match=r"\$RLWHF_MAX_STEPS='two': expected a whole number of steps"):
        load_preset()
