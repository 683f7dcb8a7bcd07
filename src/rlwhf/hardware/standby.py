"""Unsloth Standby readiness and a hardware/memory telemetry report beside a ready-to-run GRPO plan.

Unsloth Standby (`UNSLOTH_VLLM_STANDBY=1`) lets vLLM's colocated generation and training share GPU memory;
it needs a CUDA GPU, unsloth and vllm. The plan sets it only when all three are there, and the report
(`rlwhf.plan.standby_report`) says plainly which one is missing otherwise.
"""

from __future__ import annotations

import resource
import sys

from rlwhf.hardware.machine import installed, system_memory


def standby_status(info: dict) -> dict:
    """{"available": bool, "reasons": [why not, ...]} for Unsloth Standby on the machine `info` describes.

    >>> standby_status({"cuda": {"count": 0}, "packages": {"unsloth": None, "vllm": None}})["available"]
    False
    """
    reasons = []
    if not (info.get("cuda") or {}).get("count"):
        reasons.append("no CUDA GPU (Standby shares GPU memory between vLLM generation and training)")
    packages = info.get("packages") or {}
    for dist in ("unsloth", "vllm"):
        if not packages.get(dist) and not installed(dist):
            reasons.append(f"{dist} is not installed")
    return {"available": not reasons, "reasons": reasons}


def memory_snapshot() -> dict:
    """This process's peak RSS, the machine's RAM, and per-GPU used/total memory when torch sees GPUs."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_gb = peak / 1024 ** 3 if sys.platform == "darwin" else peak / 1024 ** 2  # bytes on macOS, KiB on Linux
    snap = {"process_peak_rss_gb": round(peak_gb, 3), "system": system_memory(), "gpus": []}
    if "torch" in sys.modules:  # detect() imported it if it is installed
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                free, total = torch.cuda.mem_get_info(i)
                snap["gpus"].append({"index": i, "used_gb": round((total - free) / 1024 ** 3, 2),
                                     "total_gb": round(total / 1024 ** 3, 2)})
    return snap
