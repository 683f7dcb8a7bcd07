"""Check a plan with ms-swift's own argument parser, without side effects.

`HfArgumentParser([RLHFArguments], allow_abbrev=False)` inside ms-swift's type-hint patch catches unknown
flags, bad choices and bad types; it creates no folder and imports no plugin. What it does not check is done
here: reward function names (against `swift.rewards.orms` after loading the plan's plugins), DeepSpeed
presets (against the configs ms-swift ships, so a plan for a machine with deepspeed validates here too), and
the GRPO batch arithmetic that would otherwise fail only after the model has loaded.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from rlwhf.errors import require
from rlwhf.plan.build import find_secrets
from rlwhf.plan.launch_plan import LAUNCHER, LaunchPlan


class _ParseError(Exception):
    pass


@functools.lru_cache(maxsize=1)
def swift_parser():
    """ms-swift's `swift rlhf` parser (built once: importing ms-swift takes seconds)."""
    require("swift", "swift")
    from transformers import HfArgumentParser

    from swift.arguments import RLHFArguments
    from swift.utils.utils import _patch_get_type_hints

    with _patch_get_type_hints():
        parser = HfArgumentParser([RLHFArguments], allow_abbrev=False)

    def error(message):  # argparse would print usage and exit; we want the message
        raise _ParseError(message)

    parser.error = error
    return parser


def deepspeed_choices() -> list[str]:
    """DeepSpeed presets ms-swift accepts by name (its shipped `config/zero*.json`)."""
    import swift

    folder = Path(swift.__file__).parent / "config"
    return sorted(p.stem for p in folder.glob("zero*.json"))


def _flag(message: str) -> str:
    return message.split(":", 1)[0].replace("argument ", "") if message.startswith("argument ") else ""


def validate_plan(plan: LaunchPlan) -> list[str]:
    """Problems with `plan`, each naming the argument at fault; an empty list means ms-swift accepts it.
    (The plan's shape, and that its command and shell are its args', `LaunchPlan` itself guarantees.)"""
    problems = [f"{where} looks like a credential: plans never hold secrets" for where in find_secrets(plan)]
    argv = plan.command[len(LAUNCHER):]
    parser = swift_parser()
    try:
        ns, unknown = parser.parse_known_args(argv)
    except _ParseError as exc:
        flag = _flag(str(exc))
        return problems + [f"{flag or 'arguments'}: ms-swift rejects it: {exc}"]
    for token in unknown:
        if token.startswith("-"):
            problems.append(f"{token}: not an argument of swift rlhf (ms-swift {_swift_version()})")
        else:
            problems.append(f"{token!r}: a value without a flag")
    if ns.rlhf_type != plan.algo:
        problems.append(f"--rlhf_type {ns.rlhf_type} does not match the plan's algo {plan.algo}")
    problems += _check_deepspeed(ns)
    problems += _check_rewards(ns)
    problems += _check_batches(ns, plan)
    if getattr(ns, "fsdp", None) and getattr(ns, "deepspeed", None):
        problems.append("--fsdp: cannot be combined with --deepspeed")
    return problems


def _swift_version() -> str:
    from rlwhf.hardware.machine import package_version

    return package_version("ms-swift", "swift") or "?"


def _check_deepspeed(ns) -> list[str]:
    value = getattr(ns, "deepspeed", None)
    if not value:
        return []
    choices = deepspeed_choices()
    if value in choices or Path(value).is_file():
        return []
    try:
        if isinstance(json.loads(value), dict):
            return []
    except (TypeError, ValueError):
        pass
    return [f"--deepspeed: {value!r} is neither one of ms-swift's presets ({', '.join(choices)}), "
            "a JSON file nor a JSON object"]


def _check_rewards(ns) -> list[str]:
    if ns.rlhf_type != "grpo":
        return []
    problems = []
    from swift.utils.utils import import_external_file

    for plugin in ns.external_plugins or []:
        if not Path(plugin).is_file():
            problems.append(f"--external_plugins: {plugin} not found")
            continue
        try:
            import_external_file(plugin)
        except Exception as exc:  # the plugin's own error, shown to the person who wrote the plan
            problems.append(f"--external_plugins: {plugin} failed to load: {type(exc).__name__}: {exc}")
    from swift.rewards import orms

    funcs = ns.reward_funcs or []
    if not funcs and not getattr(ns, "reward_model", None):
        problems.append("--reward_funcs: GRPO needs at least one reward function")
    for name in funcs:
        if name not in orms and not Path(name).is_file():
            problems.append(f"--reward_funcs: {name!r} is not registered (known: {', '.join(sorted(orms))})")
    return problems


def _check_batches(ns, plan: LaunchPlan) -> list[str]:
    """GRPO's generation batch must split into whole groups of num_generations (ms-swift checks it late)."""
    if ns.rlhf_type != "grpo":
        return []
    if ns.num_generations < 2:
        return [f"--num_generations: GRPO needs at least 2 completions per prompt, got {ns.num_generations}"]
    env = plan.env
    try:
        world = int(env.get("NPROC_PER_NODE", 1)) * int(env.get("NNODES", 1))
    except ValueError:
        return ["env NPROC_PER_NODE / NNODES must be integers"]
    if getattr(ns, "generation_batch_size", None):
        generation = ns.generation_batch_size
    else:
        steps = ns.steps_per_generation or ns.gradient_accumulation_steps or 1
        generation = ns.per_device_train_batch_size * world * steps
    if generation % ns.num_generations:
        return [f"--num_generations: the generation batch ({generation} = per_device_train_batch_size x "
                f"world size {world} x steps per generation) is not a multiple of {ns.num_generations}"]
    return []


__all__ = ["validate_plan", "swift_parser", "deepspeed_choices"]
