"""What this machine has: CPU, RAM, accelerators and the training packages installed.

Works without torch: package versions come from installed metadata (nothing is imported to read them),
and NVIDIA GPUs are read from `nvidia-smi` when torch is absent.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys

# One package list and version reader, shared with run summaries.
from rlwhf.telemetry.versions import PACKAGES, installed, package_version  # noqa: F401 (re-exported)


def system_memory() -> dict:
    """Total and available RAM in GiB (psutil: /proc/meminfo on Linux, sysctl on macOS, ...).

    >>> mem = system_memory()
    >>> mem["total_gb"] >= mem["available_gb"] > 0
    True
    """
    import psutil

    gib = 1024 ** 3
    vm = psutil.virtual_memory()
    return {"total_gb": round(vm.total / gib, 2), "available_gb": round(vm.available / gib, 2)}


def _cpu() -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {"cores": os.cpu_count(), "usable_cores": usable, "arch": platform.machine()}


def _cuda_from_torch(torch) -> dict:
    if not torch.cuda.is_available():
        return {"available": False, "count": 0, "devices": [], "source": "torch"}
    devices = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        cc = (props.major, props.minor)
        devices.append({
            "index": i,
            "name": props.name,
            "memory_gb": round(props.total_memory / 1024 ** 3, 2),
            "compute_capability": f"{cc[0]}.{cc[1]}",
            # bf16 needs Ampere (8.0) or newer on NVIDIA; ROCm builds report through is_bf16_supported.
            "bf16": bool(cc >= (8, 0) or (getattr(torch.version, "hip", None) and torch.cuda.is_bf16_supported())),
        })
    return {"available": True, "count": len(devices), "devices": devices, "source": "torch",
            "cuda_version": torch.version.cuda}


def _cuda_from_nvidia_smi() -> dict:
    """GPUs as nvidia-smi lists them: how doctor sees them when torch is not installed."""
    none = {"available": False, "count": 0, "devices": [], "source": "nvidia-smi"}
    exe = shutil.which("nvidia-smi")
    if not exe:
        return {**none, "source": "none (no torch, no nvidia-smi)"}
    try:
        out = subprocess.run([exe, "--query-gpu=index,name,memory.total,compute_cap", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.SubprocessError):
        return none
    devices = []
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        try:
            major = int(parts[3].split(".")[0])
            devices.append({"index": int(parts[0]), "name": parts[1],
                            "memory_gb": round(float(parts[2]) / 1024, 2),
                            "compute_capability": parts[3], "bf16": major >= 8})
        except ValueError:
            continue
    return {"available": bool(devices), "count": len(devices), "devices": devices, "source": "nvidia-smi"}


def detect() -> dict:
    """Describe this machine; never fails for a missing package.

    >>> info = detect(); sorted(info)[:3]
    ['cpu', 'cuda', 'memory']
    """
    packages = {dist: package_version(dist, module) for dist, module in PACKAGES.items()}
    info: dict = {
        "cpu": _cpu(),
        "memory": system_memory(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": packages,
        "torch_available": False,
        "notes": [],
    }
    torch = None
    if packages["torch"] is not None:
        try:
            import torch  # noqa: F811 - heavy, so only here
            info["torch_available"] = True
        except Exception as exc:  # a broken install still gets a report
            info["notes"].append(f"torch is installed but failed to import: {exc}")
            torch = None
    else:
        info["notes"].append("torch is not installed: GPUs read from nvidia-smi, MPS/NPU not checked "
                             "(pip install 'rlwhf[train]' to train)")
    if torch is not None:
        info["cuda"] = _cuda_from_torch(torch)
        mps = getattr(torch.backends, "mps", None)
        info["mps"] = {"available": bool(mps and mps.is_available())}
    else:
        info["cuda"] = _cuda_from_nvidia_smi()
        info["mps"] = {"available": False}
    info["npu"] = _npu(torch, packages)
    return info


def _npu(torch, packages: dict) -> dict:
    if torch is None or packages.get("torch_npu") is None:
        return {"available": False, "count": 0}
    try:
        import torch_npu  # noqa: F401 - registers torch.npu

        count = torch.npu.device_count() if torch.npu.is_available() else 0
    except Exception as exc:
        return {"available": False, "count": 0, "error": str(exc)}
    return {"available": count > 0, "count": count}


def pick_profile(info: dict) -> tuple[str, str]:
    """The profile `auto` means on this machine, and why.

    >>> pick_profile({"cuda": {"count": 0}, "npu": {"count": 0}, "mps": {"available": False}})[0]
    'cpu'
    """
    cuda = info.get("cuda", {}).get("count", 0)
    npu = info.get("npu", {}).get("count", 0)
    if cuda >= 2:
        return "multi_gpu", f"{cuda} CUDA GPUs found"
    if cuda == 1:
        name = info["cuda"]["devices"][0]["name"] if info["cuda"].get("devices") else "a GPU"
        return "single_gpu", f"one CUDA GPU found ({name})"
    if npu >= 1:
        return "ascend_npu", f"{npu} Ascend NPU(s) found"
    if info.get("mps", {}).get("available"):
        return "mps", "Apple MPS available, no CUDA GPU"
    reason = "no CUDA GPU, Ascend NPU or Apple MPS found"
    if not info.get("torch_available", True):
        reason += " (torch not installed)"
    return "cpu", reason
