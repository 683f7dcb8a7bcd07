"""The Unsloth Standby telemetry report: a ready-to-run GRPO plan plus what the machine has and lacks."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rlwhf.hardware.machine import detect
from rlwhf.hardware.standby import memory_snapshot, standby_status
from rlwhf.plan.build import build_plan, write_plan


def standby_report(cfg, plan_path: str | Path, report_path: str | Path) -> dict:
    """Build and write the GRPO plan for `cfg` (a PlanConfig) and the telemetry report; returns the report."""
    info = detect()
    plan = build_plan(cfg, info=info)
    write_plan(plan, plan_path)
    status = standby_status(info)
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "unsloth_standby": {**status, "in_plan": plan.env.get("UNSLOTH_VLLM_STANDBY") == "1"},
        "profile": plan.profile,
        "profile_reason": plan.profile_reason,
        "plan": str(plan_path),
        "shell": plan.shell,
        "hardware": info,
        "memory": memory_snapshot(),
    }
    path = Path(report_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
