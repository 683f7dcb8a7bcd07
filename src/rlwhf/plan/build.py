"""Build a launch plan for `swift rlhf` from the preset, the hardware profile and the overrides.

The plan is a `LaunchPlan` (rlwhf.plan.launch_plan): `args` (swift argument -> value) and `env` are the source;
`command` (argv) and `shell` are rendered from them, so a change made by the fallback cascade is a new plan
(`LaunchPlan.with_args`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rlwhf.config import check, parse_bool
from rlwhf.errors import RlwhfError
from rlwhf.plan.config import PlanConfig
from rlwhf.plan.launch_plan import LaunchPlan
from rlwhf.preset import HONESTY_ORM, TEACHER_ORM, Preset, load_preset
from rlwhf.reward.shaping import SHAPING_ENV, shaping_from_env

# Argument and variable names that carry credentials: never written into a plan.
_SECRET_NAME = re.compile(r"(^|_)(token|secret|password|passwd|api_key|apikey|access_key|credentials?)$", re.I)
# Values that look like credentials whatever the key (Hugging Face, OpenAI-style, AWS, GitHub, Slack).
_SECRET_VALUE = re.compile(r"\b(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_\-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}"
                           r"|xox[baprs]-[A-Za-z0-9\-]{10,})\b")


def is_secret_name(name: str) -> bool:
    """True for argument / variable names that hold credentials.

    >>> is_secret_name("hub_token"), is_secret_name("OPENAI_API_KEY"), is_secret_name("max_new_tokens")
    (True, True, False)
    """
    return bool(_SECRET_NAME.search(name.strip("-").replace("-", "_")))


def find_secrets(plan: LaunchPlan) -> list[str]:
    """Where a plan holds something that looks like a credential (names only, never the value)."""
    found = []
    for key, value in plan.args.items():
        if is_secret_name(key) and value not in (None, ""):
            found.append(f"argument --{key}")
    for key, value in plan.env.items():
        if is_secret_name(key):
            found.append(f"env {key}")
    for i, token in enumerate(plan.command):
        if _SECRET_VALUE.search(token):
            found.append(f"command element {i}")
    for key, value in plan.env.items():
        if isinstance(value, str) and _SECRET_VALUE.search(value):
            found.append(f"env {key} value")
    return sorted(set(found))


def redact(text: str) -> str:
    """Mask credential-looking substrings (for logs and error messages).

    >>> redact("--hub_token hf_abcdefghijklmnopqrstuvwx")
    '--hub_token ***'
    """
    return _SECRET_VALUE.sub("***", text)


def apply_teacher(plan: LaunchPlan, teacher) -> LaunchPlan:
    """A new plan whose GRPO reward is `teacher` (a TeacherRewardConfig): the teacher ORM with its
    RLWHF_TEACHER_* variables, or back to the honesty ORM for source judge."""
    from rlwhf.reward.teacher_reward import ENV_PREFIX

    env: dict[str, Any] = {k: None for k in plan.env if k.startswith(ENV_PREFIX)}
    funcs = [f for f in (plan.args.get("reward_funcs") or []) if f not in (TEACHER_ORM, HONESTY_ORM)]
    if teacher.uses_teacher:
        env.update(teacher.to_env())
        funcs = [TEACHER_ORM, *funcs]
    else:
        funcs = [HONESTY_ORM, *funcs]
    return plan.with_args(reward_funcs=funcs, env=env)


def parse_override(item: str, current: Any = None) -> tuple[str, Any]:
    """`KEY=VALUE` -> (key, typed value). Typed like `current` (the preset's value) when there is one.

    >>> parse_override("max_steps=5", 150), parse_override("use_vllm=false"), parse_override("beta=")
    (('max_steps', 5), ('use_vllm', False), ('beta', None))
    """
    key, _, raw = item.partition("=")
    key = key.strip().lstrip("-").replace("-", "_")
    if raw == "":
        return key, None
    try:
        if isinstance(current, bool):
            return key, _to_bool(raw)
        if isinstance(current, int):
            return key, int(raw)
        if isinstance(current, float):
            return key, float(raw)
        if isinstance(current, list):
            return key, [part for part in raw.split(",") if part]
        if isinstance(current, str):
            return key, raw
    except ValueError:
        raise RlwhfError(f"--set {item!r}: {key} is a {type(current).__name__} in the preset, "
                         f"{raw!r} is not one") from None
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    for cast in (int, float):
        try:
            return key, cast(raw)
        except ValueError:
            pass
    return key, raw


def _to_bool(raw: str) -> bool:
    return parse_bool(raw)  # ValueError for anything but true/false/1/0/yes/no/on/off


def reward_plugin_path() -> str:
    """The ms-swift ORM plugin file of rlwhf's honesty reward (`rlwhf.reward.plugin_path`)."""
    from rlwhf.reward import plugin_path

    return plugin_path()


def _local_path(value: str) -> Path | None:
    path = Path(value).expanduser()
    return path.resolve() if path.exists() else None


def _detect():
    from rlwhf.hardware.machine import detect

    return detect()


def resolve_profile(cfg: PlanConfig, preset: Preset, info_fn=_detect) -> tuple[str, str, str, dict | None]:
    """(profile, node profile, why, hardware info or None) for `cfg`."""
    info = None
    profile, why = cfg.profile, "asked for"
    if profile == "auto":
        if (cfg.nnodes or 1) > 1:
            profile, why = "multi_node", f"asked for {cfg.nnodes} nodes"
        else:
            from rlwhf.hardware.machine import pick_profile

            info = info_fn()
            profile, why = pick_profile(info)
    node_profile = profile
    if profile == "multi_node":
        node_profile = cfg.node_profile or preset.profile("multi_node").node_profile
        if node_profile == "auto":
            from rlwhf.hardware.machine import pick_profile

            info = info or info_fn()
            node_profile, node_why = pick_profile(info)
            if node_profile == "multi_node":  # pragma: no cover - pick_profile never returns it
                node_profile = "cpu"
            why += f"; each node runs {node_profile} ({node_why})"
        else:
            why += f"; each node runs {node_profile}"
    return profile, node_profile, why, info


def build_plan(cfg: PlanConfig, info: dict | None = None) -> LaunchPlan:
    """The launch plan for `cfg` (see docs/design.md: command, env, profile, algo, ms_swift_version, shell).

    `info` is a `rlwhf.hardware.detect()` result to plan for (default: this machine, detected when needed).
    """
    from rlwhf.hardware.machine import installed, package_version

    check(cfg)
    preset = load_preset(cfg.preset)
    given = info
    info_fn = (lambda: given) if given is not None else _detect
    profile, node_profile, why, info = resolve_profile(cfg, preset, info_fn)
    preset.profile(profile)
    prof = preset.profile(node_profile)
    multi_node = profile == "multi_node"
    notes: list[str] = []

    # Processes and nodes.
    mn = preset.profile("multi_node") if multi_node else None
    nnodes = cfg.nnodes or (mn.nnodes if mn else 1)
    if multi_node and nnodes < 2:
        raise RlwhfError("multi_node needs --nnodes of 2 or more")
    if not 0 <= cfg.node_rank < nnodes:
        raise RlwhfError(f"--node-rank must be in 0..{nnodes - 1}, got {cfg.node_rank}")
    nproc = cfg.nproc_per_node
    if nproc is None:
        nproc = prof.nproc_per_node
        if nproc == "auto":
            info = info or info_fn()
            count = (info.get("npu" if prof.device == "npu" else "cuda") or {}).get("count", 0)
            if count:
                nproc = count
                if count == 1:
                    notes.append(f"one accelerator visible: {node_profile} runs a single process here")
            else:
                nproc = prof.assumed_devices
                notes.append(f"no accelerator visible here: NPROC_PER_NODE={nproc} assumed (--nproc-per-node to set)")
        nproc = int(nproc)
    world = nnodes * nproc

    # Arguments: algorithm, then the model and data, then the profile's layers, then overrides.
    section = preset.algo(cfg.algo)
    args: dict[str, Any] = {"rlhf_type": section.rlhf_type}
    algo_args = {k: v for k, v in section.args.items() if k not in ("rlhf_type", "output_dir")}
    env: dict[str, str] = {}

    local_model = _local_path(cfg.model)
    args["model"] = str(local_model) if local_model else cfg.model
    if local_model and local_model.is_dir():
        meta_file = local_model / "rlwhf_model.json"
        if meta_file.is_file():
            try:
                meta = json.loads(meta_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise RlwhfError(f"{meta_file}: not valid JSON: {exc}") from None
            for key in ("model_type", "template"):
                if meta.get(key):
                    args[key] = meta[key]
        else:
            notes.append(f"{local_model} has no rlwhf_model.json: ms-swift infers model_type/template from its "
                         "config.json (--set model_type=... template=... where it cannot)")
        # A local folder needs no hub: skip the model check and keep every hub call off.
        args["check_model"] = False
        env["HF_HUB_OFFLINE"] = "1"

    dataset = cfg.dataset
    if not dataset:
        if cfg.algo != "grpo":
            raise RlwhfError(f"--dataset is required for {cfg.algo}")
        dataset = preset.data.processed
        if not dataset:
            raise RlwhfError(f"--dataset is required ({preset.path} has no data.processed)")
    local_data = _local_path(dataset)
    args["dataset"] = str(local_data) if local_data else dataset
    if not local_data and Path(dataset).suffix in (".jsonl", ".json", ".csv", ".parquet"):
        notes.append(f"dataset {dataset} does not exist yet")

    output_dir = cfg.output_dir or section.output_dir
    args["output_dir"] = str(Path(output_dir).expanduser().resolve())
    args.update(algo_args)

    args.update(prof.args)
    if world > 1:
        args.update(prof.multi_process_args)
    if nnodes > 1:
        args.update(prof.multi_node_args)
    if prof.device == "cuda" and args.get("torch_dtype") == "bfloat16" and prof.no_bf16_dtype:
        info = info or info_fn()
        devices = (info.get("cuda") or {}).get("devices") or []
        if devices and not all(d.get("bf16") for d in devices):
            args["torch_dtype"] = prof.no_bf16_dtype
            notes.append(f"GPU without bf16 ({devices[0].get('name')}): torch_dtype {prof.no_bf16_dtype}")
    vllm = installed("vllm")
    if cfg.algo == "grpo" and prof.vllm_args:
        if vllm:
            args.update(prof.vllm_args)
        else:
            notes.append("vllm not installed: generation runs in the training process (use_vllm false)")

    reward_artifact = None
    if cfg.algo == "grpo":
        reward = preset.reward
        args["external_plugins"] = [reward_plugin_path()]
        args["reward_funcs"] = [reward.name]
        candidate = cfg.reward_artifact
        if candidate is None and reward.artifact and Path(reward.artifact).is_file():
            candidate = reward.artifact
        if candidate is not None:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise RlwhfError(f"{candidate}: reward artifact not found (rlwhf reward build writes one)")
            reward_artifact = str(path.resolve())
            env["RLWHF_REWARD_ARTIFACT"] = reward_artifact
        else:
            notes.append("no reward artifact: the honesty judge alone scores completions")
        teacher = cfg.teacher_config(preset)
        if teacher is not None and teacher.uses_teacher:
            # The teacher in the loop: configured by variables, the API key only by its variable's NAME.
            args["reward_funcs"] = [TEACHER_ORM]
            env.update(teacher.to_env())
            notes.append(f"reward: {teacher.source} via the teacher {teacher.model} at {teacher.base_url} "
                         f"(fallback when it is down from the start: {teacher.fallback})")
        else:
            # The judge's reward shaping ($RLWHF_REWARD_SHAPING, else the preset's), checked now and pinned
            # in the plan, so the run trains on what the plan says whatever the trainer's environment holds.
            shaping = shaping_from_env(preset)
            if shaping.active:
                env[SHAPING_ENV] = json.dumps(shaping.to_dict(), sort_keys=True)
                notes.append(f"reward shaping: {env[SHAPING_ENV]}")

    env.update(prof.env)
    if cfg.algo == "grpo" and vllm and installed("unsloth"):
        env.update(prof.unsloth_env)
    if world > 1:
        env["NPROC_PER_NODE"] = str(nproc)
        if cfg.master_port is not None:
            env["MASTER_PORT"] = str(cfg.master_port)
    if nnodes > 1:
        if not cfg.master_addr:
            raise RlwhfError("multi_node needs --master-addr: node 0's address, reachable from every node")
        env.update({"NNODES": str(nnodes), "NODE_RANK": str(cfg.node_rank), "MASTER_ADDR": cfg.master_addr,
                    "MASTER_PORT": str(cfg.master_port or mn.master_port)})

    for item in cfg.overrides:
        key, _, _ = item.partition("=")
        key, value = parse_override(item, args.get(key.strip().lstrip("-").replace("-", "_")))
        if is_secret_name(key):
            raise RlwhfError(f"--set {key}=...: credentials never go into a plan; set them in the environment "
                             "where the plan runs (ms-swift and the hubs read HF_TOKEN / MODELSCOPE_API_TOKEN)")
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value

    ms_swift_version = package_version("ms-swift", "swift")
    if ms_swift_version is None:
        notes.append("ms-swift is not installed here: pip install 'rlwhf[swift]' to run or validate this plan")
    plan = LaunchPlan(
        algo=cfg.algo, args=args, env=env, backend="swift", profile=profile, node_profile=node_profile,
        profile_reason=why, device=prof.device, ms_swift_version=ms_swift_version, reward_artifact=reward_artifact,
        # The preset this plan came from (None: the default), so the fallback cascade's CPU step uses it too.
        preset=str(Path(cfg.preset).expanduser().resolve()) if cfg.preset else None,
        notes=notes,
    )
    secrets = find_secrets(plan)
    if secrets:
        raise RlwhfError(f"the plan would hold a credential ({', '.join(secrets)}): pass it through the "
                         "environment where the plan runs, never in a plan")
    return plan


def write_plan(plan: LaunchPlan, path: str | Path) -> Path:
    """Write a plan as JSON (parent folders created); `LaunchPlan.load` reads it back."""
    return plan.write(path)
