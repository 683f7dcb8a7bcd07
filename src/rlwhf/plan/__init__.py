"""Launch plans for `swift rlhf`: build from the preset + hardware profile, validate with ms-swift's parser.

Light to import: ms-swift is imported only by `validate_plan`.
"""

from rlwhf.plan.build import (
    apply_teacher,
    build_plan,
    find_secrets,
    parse_override,
    redact,
    reward_plugin_path,
    write_plan,
)
from rlwhf.plan.config import PlanConfig
from rlwhf.plan.launch_plan import LaunchPlan, parse_flags, render_shell, to_argv


def validate_plan(plan: LaunchPlan) -> list[str]:
    """Problems ms-swift's own parser (and rlwhf's extra checks) find in `plan`; [] = valid."""
    from rlwhf.plan.validate import validate_plan as _validate

    return _validate(plan)


__all__ = [
    "PlanConfig", "LaunchPlan", "build_plan", "validate_plan", "write_plan", "apply_teacher", "render_shell",
    "to_argv", "parse_flags", "parse_override", "find_secrets", "redact", "reward_plugin_path",
]
