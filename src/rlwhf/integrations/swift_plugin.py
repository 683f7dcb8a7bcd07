"""ms-swift ORM plugin: the rlwhf honesty reward as `--reward_funcs rlwhf_honesty`.

    swift rlhf --rlhf_type grpo --external_plugins "$(rlwhf reward plugin-path)" --reward_funcs rlwhf_honesty ...

ms-swift imports this file by path (`--external_plugins`), instantiates the registered class with
`args=<GRPOConfig>` and calls it with the completions (plain strings) and the dataset's columns as
aligned lists. Columns read: `reference` or `solution`, `answerable`; the question comes from
`messages`. The learned artifact comes from the `artifact` argument or $RLWHF_REWARD_ARTIFACT;
without one the rubric judge alone grades against the references.

`--reward_funcs rlwhf_teacher` is the teacher in the loop (`rlwhf.reward.teacher_reward`): an async reward
(ms-swift runs it with asyncio) configured by the RLWHF_TEACHER_* variables the plan writes; its per-step
counters go to `<run dir>/teacher_reward.jsonl`, where `rlwhf train` reads them.

Building either reward (ms-swift's GRPOTrainer does, in its constructor) also skips GRPO's redundant
old-policy forward on ms-swift 4.6 (`swift_old_logps`).
"""

from __future__ import annotations

from typing import Any, List

from swift.rewards import ORM, orms
from swift.rewards.orm import AsyncORM

from rlwhf.integrations.swift_old_logps import install_in_swift
from rlwhf.preset import HONESTY_ORM, TEACHER_ORM
from rlwhf.reward.learned import reward_from_env, score_trainer_batch

REWARD_NAME = HONESTY_ORM


class RlwhfHonesty(ORM):
    """Honesty reward in -2..2 per completion (rubric judge + learned model)."""

    def __init__(self, args: Any = None, artifact: str | None = None, **kwargs):
        super().__init__(args, **kwargs)
        install_in_swift()
        self.reward = reward_from_env(artifact)

    def __call__(self, completions: List[Any], **kwargs) -> List[float]:
        return score_trainer_batch(self.reward, completions, **kwargs)


orms[REWARD_NAME] = RlwhfHonesty


TEACHER_REWARD_NAME = TEACHER_ORM


class RlwhfTeacher(AsyncORM):
    """Honesty reward in -2..2 graded by the teacher (source teacher | hybrid | judge from RLWHF_TEACHER_SOURCE)."""

    def __init__(self, args: Any = None, **kwargs):
        super().__init__(args, **kwargs)
        install_in_swift()
        from rlwhf.reward.teacher_reward import reward_for_env

        self.reward = reward_for_env(telemetry_dir=getattr(args, "output_dir", None))

    async def __call__(self, completions: List[Any], **kwargs) -> List[float]:
        import asyncio

        # The exchanges run on the reward's own bounded thread pool; the event loop (ms-swift starts one
        # per step) stays free for other async rewards.
        return await asyncio.to_thread(self.reward.score, completions, **kwargs)


orms[TEACHER_REWARD_NAME] = RlwhfTeacher
