"""Build a launch bundle for `swift rlhf` from the preset, the hardware profile and the overrides.

The plan is plain JSON: `args` (swift argument -> value) is the source; `command` (argv) and `shell` (the same
line, quoted) are rendered from it and `env`, so a change made by the fallback cascade goes through `update_args`.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

from rlwhf.config import check, load_preset, parse_bool
from rlwhf.errors import RlwhfError
from rlwhf.plan.config import PlanConfig

LAUNCHER = ["swift", "rlhf"]
DISTRIBUTED_ENV = ("NPROC_PER_NODE", "NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")
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


def find_secrets(plan: dict) -> list[str]:
    """Where a plan holds something that looks like a credential (names only, never the value)."""
    found = []
    for key, value in (plan.get("args") or {}).items():
        if is_secret_name(key) and value not in (None, ""):
            found.append(f"argument --{key}")
    for key, value in (plan.get("env") or {}).items():
        if is_secret_name(key):
            found.append(f"env {key}")
    for i, token in enumerate(plan.get("command") or []):
        if isinstance(token, str) and _SECRET_VALUE.search(token):
            found.append(f"command element {i}")
    for key, value in (plan.get("env") or {}).items():
        if isinstance(value, str) and _SECRET_VALUE.search(value):
            found.append(f"env {key} value")
    return sorted(set(found))


def redact(text: str) -> str:
    """Mask credential-looking substrings (for logs and error messages).

    >>> redact("--hub_token hf_abcdefghijklmnopqrstuvwx")
    '--hub_token ***'
    """
    return _SECRET_VALUE.sub("***", text)


def format_value(value: Any) -> list[str]:
    """argv elements for one swift argument value (bools as true/false, lists spread, dicts as JSON)."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        return [item for v in value for item in format_value(v)]
    if isinstance(value, dict):
        return [json.dumps(value, sort_keys=True)]
    return [str(value)]


def to_argv(args: dict) -> list[str]:
    """`swift rlhf` argv for `args` (None values are left out: ms-swift's default applies)."""
    argv = list(LAUNCHER)
    for key, value in args.items():
        if value is None:
            continue
        argv.append(f"--{key}")
        argv.extend(format_value(value))
    return argv


def render_shell(env: dict, command: list[str]) -> str:
    """One POSIX shell line; `shlex.split` of it gives back the KEY=VALUE assignments, then `command`.

    >>> render_shell({"A": "x y"}, ["swift", "rlhf", "--dataset", "my data;.jsonl"])
    "A='x y' swift rlhf --dataset 'my data;.jsonl'"
    """
    assignments = [f"{key}={shlex.quote(str(value))}" for key, value in env.items()]
    return " ".join(assignments + [shlex.join(command)])


def render(plan: dict) -> dict:
    """Re-derive `command`, `shell` and the top-level mirrors of `args` after a change."""
    plan["env"] = {str(k): str(v) for k, v in plan.get("env", {}).items()}
    plan["command"] = to_argv(plan["args"])
    plan["shell"] = render_shell(plan["env"], plan["command"])
    for key in ("output_dir", "model", "dataset"):
        plan[key] = plan["args"].get(key)
    return plan


def update_args(plan: dict, changes: dict | None = None, env: dict | None = None) -> dict:
    """A new plan with swift arguments (and env variables) changed; a None value removes one.

    >>> p = update_args({"args": {"per_device_train_batch_size": 8}, "env": {}}, {"per_device_train_batch_size": 4})
    >>> p["command"]
    ['swift', 'rlhf', '--per_device_train_batch_size', '4']
    """
    new = copy.deepcopy(plan)
    for key, value in (changes or {}).items():
        if value is None:
            new["args"].pop(key, None)
        else:
            new["args"][key] = value
    for key, value in (env or {}).items():
        if value is None:
            new["env"].pop(key, None)
        else:
            new["env"][key] = str(value)
    return render(new)


def apply_teacher(plan: dict, teacher) -> dict:
    """A new plan whose GRPO reward is `teacher` (a TeacherRewardConfig): `rlwhf_teacher` with its
    RLWHF_TEACHER_* variables, or back to `rlwhf_honesty` for source judge."""
    from rlwhf.reward.teacher_reward import ENV_PREFIX

    env = {k: None for k in plan.get("env", {}) if k.startswith(ENV_PREFIX)}
    funcs = [f for f in (plan["args"].get("reward_funcs") or []) if f not in ("rlwhf_teacher", "rlwhf_honesty")]
    if teacher.uses_teacher:
        env.update(teacher.to_env())
        funcs = ["rlwhf_teacher", *funcs]
    else:
        funcs = ["rlwhf_honesty", *funcs]
    return update_args(plan, {"reward_funcs": funcs}, env)


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
    """The ms-swift ORM plugin file of rlwhf's honesty reward."""
    try:
        from rlwhf.reward import plugin_path
    except ImportError:  # the reward package predates plugin_path: same file, computed here
        import rlwhf

        return str(Path(rlwhf.__file__).resolve().parent / "integrations" / "swift_plugin.py")
    return str(plugin_path())


def _local_path(value: str) -> Path | None:
    path = Path(value).expanduser()
    return path.resolve() if path.exists() else None


def _detect():
    from rlwhf.hardware.machine import detect

    return detect()


def _section(preset: dict, name: str, where: str) -> dict:
    value = preset.get(name)
    if not isinstance(value, dict):
        raise RlwhfError(f"preset: missing or malformed `{where}` section")
    return value


def resolve_profile(cfg: PlanConfig, preset: dict, info_fn=_detect) -> tuple[str, str, str, dict | None]:
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
        mn = _section(preset["profiles"], "multi_node", "profiles.multi_node")
        node_profile = cfg.node_profile or mn.get("node_profile", "auto")
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


def build_plan(cfg: PlanConfig, info: dict | None = None) -> dict:
    """The launch bundle for `cfg` (see docs/design.md: command, env, profile, algo, ms_swift_version, shell).

    `info` is a `rlwhf.hardware.detect()` result to plan for (default: this machine, detected when needed).
    """
    from rlwhf.hardware.machine import installed, package_version

    check(cfg)
    preset = load_preset(cfg.preset)
    profiles = _section(preset, "profiles", "profiles")
    given = info
    info_fn = (lambda: given) if given is not None else _detect
    profile, node_profile, why, info = resolve_profile(cfg, preset, info_fn)
    if profile not in profiles or node_profile not in profiles:
        raise RlwhfError(f"preset: no profile {node_profile if profile in profiles else profile!r} "
                         f"(has {', '.join(profiles)})")
    prof = profiles[node_profile]
    multi_node = profile == "multi_node"
    notes: list[str] = []

    # Processes and nodes.
    mn = profiles.get("multi_node", {}) if multi_node else {}
    nnodes = cfg.nnodes or (int(mn.get("nnodes", 2)) if multi_node else 1)
    if multi_node and nnodes < 2:
        raise RlwhfError("multi_node needs --nnodes of 2 or more")
    if not 0 <= cfg.node_rank < nnodes:
        raise RlwhfError(f"--node-rank must be in 0..{nnodes - 1}, got {cfg.node_rank}")
    nproc = cfg.nproc_per_node
    if nproc is None:
        nproc = prof.get("nproc_per_node", 1)
        if nproc == "auto":
            info = info or info_fn()
            count = (info.get("npu" if prof.get("device") == "npu" else "cuda") or {}).get("count", 0)
            if count:
                nproc = count
                if count == 1:
                    notes.append(f"one accelerator visible: {node_profile} runs a single process here")
            else:
                nproc = int(prof.get("assumed_devices", 2))
                notes.append(f"no accelerator visible here: NPROC_PER_NODE={nproc} assumed (--nproc-per-node to set)")
        nproc = int(nproc)
    world = nnodes * nproc

    # Arguments: algorithm, then the model and data, then the profile's layers, then overrides.
    args: dict[str, Any] = {}
    algo_args = dict(_section(preset, cfg.algo, cfg.algo))
    args["rlhf_type"] = algo_args.pop("rlhf_type", cfg.algo)
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
        dataset = (preset.get("data") or {}).get("processed")
        if not dataset:
            raise RlwhfError("--dataset is required (the preset has no data.processed)")
    local_data = _local_path(dataset)
    args["dataset"] = str(local_data) if local_data else dataset
    if not local_data and Path(dataset).suffix in (".jsonl", ".json", ".csv", ".parquet"):
        notes.append(f"dataset {dataset} does not exist yet")

    output_dir = cfg.output_dir or algo_args.pop("output_dir", None) or f"workspace/runs/{cfg.algo}"
    algo_args.pop("output_dir", None)
    args["output_dir"] = str(Path(output_dir).expanduser().resolve())
    args.update(algo_args)

    args.update(prof.get("args") or {})
    if world > 1:
        args.update(prof.get("multi_process_args") or {})
    if nnodes > 1:
        args.update(prof.get("multi_node_args") or {})
    if prof.get("device") == "cuda" and args.get("torch_dtype") == "bfloat16" and prof.get("no_bf16_dtype"):
        info = info or info_fn()
        devices = (info.get("cuda") or {}).get("devices") or []
        if devices and not all(d.get("bf16") for d in devices):
            args["torch_dtype"] = prof["no_bf16_dtype"]
            notes.append(f"GPU without bf16 ({devices[0].get('name')}): torch_dtype {prof['no_bf16_dtype']}")
    vllm = installed("vllm")
    if cfg.algo == "grpo" and prof.get("vllm_args"):
        if vllm:
            args.update(prof["vllm_args"])
        else:
            notes.append("vllm not installed: generation runs in the training process (use_vllm false)")

    reward_artifact = None
    if cfg.algo == "grpo":
        reward = preset.get("reward") or {}
        args["external_plugins"] = [reward_plugin_path()]
        args["reward_funcs"] = [reward.get("name", "rlwhf_honesty")]
        candidate = cfg.reward_artifact
        if candidate is None and reward.get("artifact") and Path(reward["artifact"]).is_file():
            candidate = reward["artifact"]
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
            args["reward_funcs"] = ["rlwhf_teacher"]
            env.update(teacher.to_env())
            notes.append(f"reward: {teacher.source} via the teacher {teacher.model} at {teacher.base_url} "
                         f"(fallback when it is down from the start: {teacher.fallback})")

    env.update({k: str(v) for k, v in (prof.get("env") or {}).items()})
    if cfg.algo == "grpo" and vllm and installed("unsloth"):
        env.update({k: str(v) for k, v in (prof.get("unsloth_env") or {}).items()})
    if world > 1:
        env["NPROC_PER_NODE"] = str(nproc)
        if cfg.master_port is not None:
            env["MASTER_PORT"] = str(cfg.master_port)
    if nnodes > 1:
        if not cfg.master_addr:
            raise RlwhfError("multi_node needs --master-addr: node 0's address, reachable from every node")
        env.update({"NNODES": str(nnodes), "NODE_RANK": str(cfg.node_rank), "MASTER_ADDR": cfg.master_addr,
                    "MASTER_PORT": str(cfg.master_port or mn.get("master_port", 29500))})

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

    plan = {
        "backend": "swift",
        "algo": cfg.algo,
        "profile": profile,
        "node_profile": node_profile,
        "profile_reason": why,
        "device": prof.get("device", "cpu"),
        "world_size": world,
        "ms_swift_version": package_version("ms-swift", "swift"),
        "reward_artifact": reward_artifact,
        # The preset this plan came from (None: the default), so the fallback cascade's CPU step uses it too.
        "preset": str(Path(cfg.preset).expanduser().resolve()) if cfg.preset else None,
        # ms-swift keeps its versioned run folders (--add_version true): a retry or a resume never
        # overwrites an earlier attempt's logs, and every checkpoint sits one level below output_dir.
        "checkpoints": "<output_dir>/v<N>-<timestamp>/checkpoint-<step>",
        "notes": notes,
        "args": args,
        "env": env,
        "fallback": [],
    }
    if plan["ms_swift_version"] is None:
        notes.append("ms-swift is not installed here: pip install 'rlwhf[swift]' to run or validate this plan")
    render(plan)
    secrets = find_secrets(plan)
    if secrets:
        raise RlwhfError(f"the plan would hold a credential ({', '.join(secrets)}): pass it through the "
                         "environment where the plan runs, never in a plan")
    return plan


def write_plan(plan: dict, path: str | Path) -> Path:
    """Write a plan as JSON (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    return path


def load_plan(path: str | Path) -> dict:
    """Read a plan file; a clear error when it is missing or not a JSON object."""
    path = Path(path)
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RlwhfError(f"{path}: plan not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RlwhfError(f"{path}: unreadable: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RlwhfError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(plan, dict):
        raise RlwhfError(f"{path}: a plan is a JSON object")
    return plan
