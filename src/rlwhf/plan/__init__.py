"""Launch plans for `swift rlhf`: build from the preset + hardware profile, validate with ms-swift's parser.

Light to import: ms-swift is imported only by `validate_plan`.
"""

from rlwhf.plan.build import (
    build_plan,
    find_secrets,
    load_plan,
    parse_override,
    redact,
    render,
    render_shell,
    reward_plugin_path,
    to_argv,
    update_args,
    write_plan,
)
from rlwhf.plan.config import PlanConfig


def validate_plan(plan: dict) -> list[str]:
    """Problems ms-swift's own parser (and rlwhf's extra checks) find in `plan`; [] = valid."""
    from rlwhf.plan.validate import validate_plan as _validate

    return _validate(plan)


__all__ = [
    "PlanConfig", "build_plan", "validate_plan", "update_args", "render", "render_shell", "to_argv",
    "parse_override", "find_secrets", "redact", "load_plan", "write_plan",
    "reward_plugin_path",
]
