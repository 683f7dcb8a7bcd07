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
    from rlwhf.model.tiny import TinyPolicyConfig

    return TinyPolicyConfig(seed=LaunchConfig().seed)


def cached_embedded_policy() -> Path | None:
    """The embedded policy's cache folder when it has been built on this machine, else None (never builds)."""
    from rlwhf.model.tiny import cache_dir, cache_key

    folder = cache_dir() / "tiny" / cache_key(embedded_policy_config())
    return folder if (folder / "rlwhf_model.json").is_file() else None


def embedded_policy(target: str | Path = POLICY_DIR, log=None) -> dict:
    """Build the embedded policy into `target`, or copy it from the cache (seconds)."""
    from rlwhf.model.tiny import build_tiny

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
