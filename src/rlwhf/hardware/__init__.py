"""Hardware: what this machine has (`detect`), which profile fits it (`pick_profile`), and the ordered
out-of-memory degrade steps (`CASCADE`, `degrade`) read from configs/training/hardware_fallback.json."""

from rlwhf.hardware.cascade import STEP_FUNCTIONS, Step, degrade, load_cascade
from rlwhf.hardware.machine import detect, installed, package_version, pick_profile


def __getattr__(name: str):
    if name == "CASCADE":  # read on first use, like rlwhf.hardware.cascade.CASCADE
        return load_cascade()
    raise AttributeError(name)


__all__ = ["detect", "pick_profile", "installed", "package_version", "CASCADE", "Step", "STEP_FUNCTIONS",
           "degrade", "load_cascade"]
