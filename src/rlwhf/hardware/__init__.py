"""Hardware: what this machine has (`detect`, `system_memory`) and which profile fits it (`pick_profile`).

The out-of-memory fallback cascade edits plans, so it lives with training (`rlwhf.train.fallback`);
this package imports neither `plan` nor `train`.
"""

from rlwhf.hardware.machine import detect, installed, package_version, pick_profile, system_memory

__all__ = ["detect", "pick_profile", "installed", "package_version", "system_memory"]
