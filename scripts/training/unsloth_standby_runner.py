"""Seed entry point: write the ready-to-run GRPO plan (workspace/plans/ms_swift_grpo_launch.json) and a
hardware/memory telemetry report, and say whether Unsloth Standby is available here and why not
(shim over rlwhf.plan.standby_report; plan flags as in `rlwhf plan`).

    python3 scripts/training/unsloth_standby_runner.py [--model DIR] [--dataset FILE] [--profile auto]

With no arguments it plans what `rlwhf launch` would train: the embedded default policy (built once, then
copied from the cache), the preset's preprocessed rows (step 1) and reward artifact (step 2), the auto
profile. Paths in the plan are absolute, so its command runs as printed inside vendor/ms-swift-sub.
$RLWHF_MAX_STEPS caps max_steps (a smoke run of the same command).
"""

import argparse
import dataclasses
import sys


def main(argv=None) -> int:
    from rlwhf.config import add_arguments, check
    from rlwhf.errors import RlwhfError
    from rlwhf.launch.seed import VENDOR_DIR, standby_plan_config
    from rlwhf.plan.standby_report import standby_report
    from rlwhf.plan import PlanConfig

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p, PlanConfig)
    p.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="extend", nargs="+", default=[],
                   help="override a swift rlhf argument")
    p.add_argument("--report", default="workspace/telemetry/unsloth_standby_report.json",
                   help="telemetry report JSON (default: %(default)s)")
    args = p.parse_args(argv)
    plan_path = args.output or "workspace/plans/ms_swift_grpo_launch.json"
    try:
        names = {f.name for f in dataclasses.fields(PlanConfig)}
        values = {k: v for k, v in vars(args).items() if k in names and v is not None}
        given = PlanConfig(**{**values, "algo": "grpo", "output": plan_path})  # checked once the defaults are filled in
        cfg = standby_plan_config(given, log=lambda msg: print(msg, file=sys.stderr))
        check(cfg)
        report = standby_report(cfg, plan_path, args.report)
    except RlwhfError as exc:
        print(f"unsloth_standby_runner: error: {exc}", file=sys.stderr)
        return exc.exit_code
    standby = report["unsloth_standby"]
    if standby["available"]:
        print("Unsloth Standby: available (UNSLOTH_VLLM_STANDBY=1 is in the plan)")
    else:
        print("Unsloth Standby: unavailable here: " + "; ".join(standby["reasons"]) +
              ". The plan runs without it.")
    print(f"plan: {plan_path} (profile {report['profile']}: {report['profile_reason']})")
    print(f"telemetry: {args.report} (peak RSS {report['memory']['process_peak_rss_gb']} GiB)")
    print(f"run it inside {VENDOR_DIR}:  cd {VENDOR_DIR} && {report['shell']}")
    return 0



if __name__ == "__main__":
    sys.exit(main())
