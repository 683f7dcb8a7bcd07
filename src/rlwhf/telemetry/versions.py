"""Package versions for run summaries, read from installed metadata (nothing is imported)."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

PACKAGES = ["rlwhf", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "ms-swift",
            "deepspeed", "vllm"]


def versions(packages: list[str] | None = None) -> dict:
    """{"python": ..., "platform": ..., package: version or None when not installed}."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in packages or PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
