"""Seed entry point: apply the next out-of-memory fallback step to a plan (shim over rlwhf.train.fallback).

    python plugins/core/hardware_fallback_cascade.py PLAN.json [--output OUT.json]   # next step
    python plugins/core/hardware_fallback_cascade.py --list                          # the ordered steps
"""

import argparse
import json
import sys


def main(argv=None) -> int:
    from rlwhf.errors import RlwhfError
    from rlwhf.train.fallback import CASCADE, degrade
    from rlwhf.plan import LaunchPlan

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan", nargs="?", help="plan JSON written by `rlwhf plan`")
    p.add_argument("--output", help="where to write the degraded plan (default: print it)")
    p.add_argument("--list", action="store_true", help="list the cascade's steps and exit")
    args = p.parse_args(argv)
    try:
        if args.list or not args.plan:
            for i, step in enumerate(CASCADE, 1):
                print(f"{i}. {step.name} {json.dumps(step.params)}")
            return 0
        result = degrade(LaunchPlan.load(args.plan))
    except RlwhfError as exc:
        print(f"hardware_fallback_cascade: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if result is None:
        print("cascade exhausted: no step changes this plan", file=sys.stderr)
        return 1
    plan, change = result
    print(change)
    if args.output:
        plan.write(args.output)
    else:
        print(json.dumps(plan.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
