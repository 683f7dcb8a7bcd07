"""rlwhf.hardware: detection, the profile `auto` picks, and `rlwhf doctor` (with and without torch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from rlwhf.cli.main import main
from rlwhf.hardware import detect, pick_profile
from rlwhf.hardware.machine import PACKAGES, _cuda_from_nvidia_smi


def test_detect_reports_cpu_memory_and_packages():
    info = detect()
    assert info["cpu"]["cores"] >= 1 and 1 <= info["cpu"]["usable_cores"] <= info["cpu"]["cores"]
    assert info["memory"]["total_gb"] > 0
    assert set(info["packages"]) == set(PACKAGES)
    assert info["packages"]["ms-swift"] and info["packages"]["torch"]  # requirements.txt installs both
    assert info["cuda"]["count"] == len(info["cuda"]["devices"])
    for key in ("mps", "npu"):
        assert "available" in info[key]


@pytest.mark.parametrize("info, expected", [
    ({"cuda": {"count": 2, "devices": []}}, ("multi_gpu", "2 CUDA GPUs found")),
    ({"cuda": {"count": 1, "devices": [{"name": "L4"}]}}, ("single_gpu", "one CUDA GPU found (L4)")),
    ({"cuda": {"count": 0}, "npu": {"count": 8}}, ("ascend_npu", "8 Ascend NPU(s) found")),
    ({"cuda": {"count": 0}, "mps": {"available": True}}, ("mps", "Apple MPS available, no CUDA GPU")),
    ({"cuda": {"count": 0}, "torch_available": False}, ("cpu", "no CUDA GPU, Ascend NPU or Apple MPS found "
                                                               "(torch not installed)")),
])
def test_pick_profile(info, expected):
    assert pick_profile(info) == expected


def test_gpus_read_from_nvidia_smi_when_torch_is_absent(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho '0, NVIDIA H100 80GB HBM3, 81559, 9.0'\necho '1, Tesla V100-SXM2-16GB, 16384, 7.0'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    cuda = _cuda_from_nvidia_smi()
    assert cuda["count"] == 2 and cuda["source"] == "nvidia-smi"
    assert cuda["devices"][0] == {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_gb": 79.65,
                                  "compute_capability": "9.0", "bf16": True}
    assert cuda["devices"][1]["bf16"] is False


def test_doctor_json_and_table(capsys):
    assert main(["doctor", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["profile"]["name"] == pick_profile(info)[0]
    assert main(["doctor"]) == 0
    table = capsys.readouterr().out
    assert "profile   auto -> " in table and "ms-swift" in table and "deepspeed" in table


# Runs rlwhf with torch (and, optionally, its install metadata) hidden, then reports what got imported.
HIDE_TORCH = textwrap.dedent("""
    import importlib.abc, importlib.metadata, json, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is hidden by the test")
    sys.meta_path.insert(0, Block())
    if sys.argv[1] == "uninstalled":
        real = importlib.metadata.version
        def version(dist):
            if dist in ("torch", "torch_npu"):
                raise importlib.metadata.PackageNotFoundError(dist)
            return real(dist)
        importlib.metadata.version = version
    from rlwhf.cli.main import main
    rc = main(sys.argv[2:])
    print(json.dumps({"rc": rc, "torch_loaded": "torch" in sys.modules}), file=sys.stderr)
""")


def run_hidden(mode: str, *argv: str) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, "-c", HIDE_TORCH, mode, *argv], capture_output=True, text=True,
                          timeout=120)
    status = json.loads(done.stderr.strip().splitlines()[-1])
    return status, done.stdout


@pytest.mark.parametrize("mode", ["uninstalled", "broken"])
def test_doctor_works_without_torch(mode):
    status, out = run_hidden(mode, "doctor", "--json")
    assert status == {"rc": 0, "torch_loaded": False}
    info = json.loads(out)
    assert info["torch_available"] is False and info["profile"]["name"] in ("cpu", "single_gpu", "multi_gpu")
    note = "torch is not installed" if mode == "uninstalled" else "failed to import"
    assert any(note in n for n in info["notes"])
    if mode == "uninstalled":
        assert info["packages"]["torch"] is None


def test_plan_for_this_machine_without_torch(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    status, out = run_hidden("uninstalled", "plan", "--model", str(model), "--dataset", "d.jsonl")
    assert status == {"rc": 0, "torch_loaded": False}
    assert json.loads(out)["profile"] == "cpu"


def test_docstring_examples_run():
    import doctest

    import rlwhf.hardware.machine as machine
    import rlwhf.hardware.standby as standby
    import rlwhf.train.fallback as fallback

    for module in (fallback, machine, standby):
        assert doctest.testmod(module).failed == 0, module.__name__
