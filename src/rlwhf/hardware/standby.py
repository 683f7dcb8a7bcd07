"""Unsloth Standby readiness and a hardware/memory telemetry report beside a ready-to-run GRPO plan.

Unsloth Standby (`UNSLOTH_VLLM_STANDBY=1`) lets vLLM's colocated generation and training share GPU memory;
it needs a CUDA GPU, unsloth and vllm. The plan sets it only when all three are there, and this report says
plainly which one is missing otherwise.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from rlwhf.hardware.machine import _memory, detect, installed


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
    snap = {"process_peak_rss_gb": round(peak_gb, 3), "system": _memory(), "gpus": []}
    if "torch" in sys.modules:  # detect() imported it if it is installed
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                free, total = torch.cuda.mem_get_info(i)
                snap["gpus"].append({"index": i, "used_gb": round((total - free) / 1024 ** 3, 2),
                                     "total_gb": round(total / 1024 ** 3, 2)})
    return snap


def standby_report(cfg, plan_path: str | Path, report_path: str | Path) -> dict:
    """Build and write the GRPO plan for `cfg` (a PlanConfig) and the telemetry report; returns the report."""
    from rlwhf.plan import build_plan, write_plan

    info = detect()
    plan = build_plan(cfg, info=info)
    write_plan(plan, plan_path)
    status = standby_status(info)
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "unsloth_standby": {**status, "in_plan": plan["env"].get("UNSLOTH_VLLM_STANDBY") == "1"},
        "profile": plan["profile"],
        "profile_reason": plan["profile_reason"],
        "plan": str(plan_path),
        "shell": plan["shell"],
        "hardware": info,
        "memory": memory_snapshot(),
    }
    path = Path(report_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
