"""Honesty reward: the rubric judge, the portable learned reward model, and where the plugins live.

Stdlib only at import time (no torch): `rlwhf reward ...` and ms-swift's reward loop import this.
"""

from __future__ import annotations

from pathlib import Path

from rlwhf.preset import HONESTY_ORM
from rlwhf.reward.rubric import Judge, Judgement, grade, judge

__all__ = ["Judge", "Judgement", "judge", "grade", "HonestyReward", "plugin_path", "REWARD_NAME"]

REWARD_NAME = HONESTY_ORM


def plugin_path() -> str:
    """Absolute path of the ms-swift ORM plugin file (`--external_plugins`; rewards `rlwhf_honesty`,
    `rlwhf_teacher`): a file alone in its folder, which ms-swift puts on sys.path (see that file)."""
    return str(Path(__file__).resolve().parents[1] / "integrations" / "ms_swift_plugin" / "rlwhf_swift_plugin.py")


def __getattr__(name: str):
    if name == "HonestyReward":  # lazy: keeps `import rlwhf.reward` light for the judge alone
        from rlwhf.reward.learned import HonestyReward

        return HonestyReward
    raise AttributeError(name)
