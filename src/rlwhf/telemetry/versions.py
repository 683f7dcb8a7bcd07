"""Installed package versions, read from installed metadata (nothing is imported): the one list that
`rlwhf doctor`, plans and run summaries report.

>>> versions(["rlwhf"])["rlwhf"] is not None
True
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys

# Distribution name -> import name, in the order doctor prints them.
PACKAGES = {
    "rlwhf": "rlwhf",
    "torch": "torch",
    "transformers": "transformers",
    "trl": "trl",
    "peft": "peft",
    "accelerate": "accelerate",
    "datasets": "datasets",
    "ms-swift": "swift",
    "deepspeed": "deepspeed",
    "vllm": "vllm",
    "unsloth": "unsloth",
    "torch_npu": "torch_npu",
    "bitsandbytes": "bitsandbytes",
}


def package_version(dist: str, module: str | None = None) -> str | None:
    """Installed version of distribution `dist`, or None when absent (never imports it)."""
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version is None and module and _has_module(module):
        return "unknown"  # importable but without metadata (e.g. a source checkout on sys.path)
    return version


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def installed(dist: str) -> bool:
    """True when distribution `dist` (a key of PACKAGES) is installed."""
    return package_version(dist, PACKAGES.get(dist)) is not None


def versions(packages: list[str] | None = None) -> dict:
    """{"python": ..., "platform": ..., package: version or None when not installed}."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in packages or PACKAGES:
        out[name] = package_version(name)
    return out
