"""`rlwhf plan`: a launch bundle for `swift rlhf` (argv, env, shell line) from the preset and a hardware
profile; `rlwhf plan --validate FILE` checks one with ms-swift's own parser."""

from __future__ import annotations

import json
import sys

from rlwhf.config import add_arguments, from_namespace
from rlwhf.plan.config import PlanConfig


def register(sub):
    p = sub.add_parser("plan", help="write (or --validate) a launch plan for swift rlhf grpo|dpo",
                       description=__doc__)
    add_arguments(p, PlanConfig)
    p.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="extend", nargs="+", default=[],
                   help="override a swift rlhf argument (typed like the preset's value; KEY= drops it); repeatable")
    p.add_argument("--validate", metavar="FILE", default=None,
                   help="check FILE with ms-swift's parser and the reward registry instead of writing a plan")
    p.set_defaults(group_parser=p, func=run)


def run(args) -> int:
    if args.validate:
        return validate(args.validate)
    from rlwhf.plan.build import build_plan, write_plan

    cfg = from_namespace(PlanConfig, args)
    plan = build_plan(cfg)
    if cfg.output is None:
        print(json.dumps(plan.to_dict(), indent=2))
        return 0
    path = write_plan(plan, cfg.output)
    print(f"wrote {path}: {plan.algo} on profile {plan.profile} ({plan.profile_reason}), "
          f"ms-swift {plan.ms_swift_version or 'not installed'}")
    for note in plan.notes:
        print(f"note: {note}")
    print(plan.shell)
    return 0


def validate(path: str) -> int:
    from rlwhf.hardware.machine import package_version
    from rlwhf.plan.launch_plan import LaunchPlan
    from rlwhf.plan.validate import validate_plan

    plan = LaunchPlan.load(path)
    problems = validate_plan(plan)
    here = package_version("ms-swift", "swift")
    if plan.ms_swift_version and here and plan.ms_swift_version != here:
        print(f"{path}: note: planned for ms-swift {plan.ms_swift_version}, checked with {here}", file=sys.stderr)
    if problems:
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
        print(f"{path}: invalid ({len(problems)} problem{'s' if len(problems) != 1 else ''})", file=sys.stderr)
        return 1
    print(f"{path}: valid (ms-swift's swift rlhf parser accepts every argument; reward functions registered)")
    return 0
