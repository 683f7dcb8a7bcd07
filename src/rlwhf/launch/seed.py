"""The defaults behind the seed's Suggested Workflow: what `rlwhf launch` uses when given nothing.

The seed's steps run with no arguments (`ms_swift_preprocess.py --streaming`, the reward plugin,
`unsloth_standby_runner.py`, then the plan's command inside vendor/ms-swift-sub); they take the same
policy and profile as `rlwhf launch`: the embedded default policy (built once, then taken from the
cache under $RLWHF_CACHE_DIR) and the `auto` hardware profile.
"""

from __future__ import annotations

import os
from pathlib import Path

VENDOR_DIR = "vendor/ms-swift-sub"  # where the seed says to run the plan's command
POLICY_DIR = "workspace/models/embedded_policy"  # where the standby runner puts the embedded policy


def embedded_policy_config():
    """`rlwhf launch`'s embedded policy: `rlwhf model tiny` with the launch's seed (same cache key)."""
    from rlwhf.launch import LaunchConfig
    from rlwhf.policy.tiny import TinyPolicyConfig

    launch = LaunchConfig()
    return TinyPolicyConfig(seed=launch.seed, pack=launch.tiny_pack)


def cached_embedded_policy() -> Path | None:
    """The embedded policy's cache folder when it has been built on this machine, else None (never builds)."""
    from rlwhf.policy.tiny import cache_dir, cache_key

    folder = cache_dir() / "tiny" / cache_key(embedded_policy_config())
    return folder if (folder / "rlwhf_model.json").is_file() else None


def embedded_policy(target: str | Path = POLICY_DIR, log=None) -> dict:
    """Build the embedded policy into `target`, or copy it from the cache (seconds)."""
    from rlwhf.policy.tiny import build_tiny

    return build_tiny(target, embedded_policy_config(), log=log)


def configured_model(model: str | None = None) -> tuple[str | None, str]:
    """(model folder or None, where it came from) for steps that only need a tokenizer: the given one,
    else $RLWHF_MODEL, else the embedded policy when it is in the cache."""
    if model:
        return model, "given"
    if os.environ.get("RLWHF_MODEL"):
        return os.environ["RLWHF_MODEL"], "$RLWHF_MODEL"
    cached = cached_embedded_policy()
    return (str(cached), "the embedded default policy, cached") if cached else (None, "none configured")


def standby_plan_config(cfg, log=print):
    """Fill a PlanConfig the way the seed's step 3 needs it (`unsloth_standby_runner.py` with no arguments):
    the embedded policy unless --model, the preset's preprocessed rows unless --dataset, the preset's reward
    artifact when it exists, every path absolute (step 4 runs the command inside vendor/ms-swift-sub), and
    a batch that a tiny dataset can fill (as `rlwhf launch` does)."""
    import dataclasses

    from rlwhf.data.io import count_rows
    from rlwhf.errors import RlwhfError
    from rlwhf.preset import load_preset
    from rlwhf.data.io import count_rows

    preset = load_preset(cfg.preset)
    changes: dict = {}
    if not (cfg.dataset or preset.data.processed):
        raise RlwhfError(f"{preset.path}: no data.processed: pass --dataset FILE (preprocessed GRPO rows)")
    dataset = Path(cfg.dataset or preset.data.processed)
    if not dataset.is_file():
        raise RlwhfError(f"{dataset}: no preprocessed GRPO rows; make them first (step 1): "
                         "python3 scripts/data_pipeline/ms_swift_preprocess.py --streaming")
    changes["dataset"] = str(dataset.resolve())
    if not cfg.model:
        info = embedded_policy(POLICY_DIR, log=log)
        how = "from the cache" if info["cached"] else f"built ({info['sft']['steps']} SFT steps)"
        log(f"policy: the embedded default policy, {how}: {info['output_dir']}")
        changes["model"] = str(Path(info["output_dir"]).resolve())
    elif Path(cfg.model).exists():
        changes["model"] = str(Path(cfg.model).resolve())
    section = preset.algo(cfg.algo)
    changes["output_dir"] = str(Path(cfg.output_dir or section.output_dir).resolve())
    artifact = cfg.reward_artifact or preset.reward.artifact
    if cfg.algo == "grpo" and artifact and Path(artifact).is_file():
        changes["reward_artifact"] = str(Path(artifact).resolve())
    overrides = list(cfg.overrides)
    if cfg.algo == "grpo" and not any(o.startswith("per_device_train_batch_size=") for o in overrides):
        prompts = count_rows(dataset)
        gens = section.int_arg("num_generations")
        if prompts * gens < section.int_arg("per_device_train_batch_size"):
            overrides.append(f"per_device_train_batch_size={prompts * gens}")
            log(f"only {prompts} prompts: per_device_train_batch_size {prompts * gens} (a step needs a full batch)")
    changes["overrides"] = overrides
    Path(VENDOR_DIR).mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(cfg, **changes)
