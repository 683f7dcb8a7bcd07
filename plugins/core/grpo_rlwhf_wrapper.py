"""Seed entry point: the GRPO launch bundle (`command`, `args`, `env`) for a hardware profile, with the
honesty reward wired in (shim over rlwhf.plan; same flags as `rlwhf plan`).

    python plugins/core/grpo_rlwhf_wrapper.py --profile cpu --model DIR --dataset FILE [--output PLAN.json]
"""

import sys


def launch_bundle(profile: str = "auto", **fields) -> dict:
    """{"command", "args", "env"} of the GRPO plan for `profile` (fields as in rlwhf.plan.PlanConfig)."""
    from rlwhf.plan import PlanConfig, build_plan

    plan = build_plan(PlanConfig(algo="grpo", profile=profile, **fields))
    return {"command": plan.command, "args": plan.args, "env": plan.env}


def main(argv=None) -> int:
    from rlwhf.cli.main import main as rlwhf_main

    return rlwhf_main(["plan", "--algo", "grpo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
