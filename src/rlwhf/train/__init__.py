"""Training: run a launch plan through ms-swift (subprocess) or TRL, with OOM fallback, resume and telemetry.

`train(TrainConfig(plan="plan.json"))` is what `rlwhf train --plan plan.json` calls.
"""

from rlwhf.train.config import BACKENDS, TrainConfig


def train(cfg: TrainConfig, cascade: list | None = None) -> dict:
    """Run `cfg.plan` (see rlwhf.train.run_plan.train); imported lazily to keep `rlwhf --help` light."""
    from rlwhf.train.run_plan import train as _train

    return _train(cfg, cascade=cascade)


__all__ = ["BACKENDS", "TrainConfig", "train"]
