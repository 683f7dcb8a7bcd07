"""TRL reward function: `GRPOTrainer(reward_funcs=[honesty_reward], ...)`.

TRL calls it with `prompts`, `completions` (strings, or message lists for conversational datasets),
`completion_ids` and every other dataset column as aligned lists; `reference`/`solution` and
`answerable` are used when present. The artifact comes from $RLWHF_REWARD_ARTIFACT (or
`make_honesty_reward(path)`); without one the rubric judge alone grades.

TRL 1.x also passes `log_extra(column, values)` and `log_metric(name, value)`: the reward then adds each
completion's grade and verdict to the completions table (`honesty_grade`, `honesty_verdict`) and logs
the batch's `honesty/abstention_rate`, `honesty/correct_rate` and `honesty/incorrect_rate` beside TRL's
own metrics. Older TRL and ms-swift do not pass them; nothing changes there.
"""

from __future__ import annotations

from typing import Any, Callable

from rlwhf.reward.learned import grade_trainer_batch, reward_from_env, score_trainer_batch, training_shaping


def honesty_reward(completions: list[Any], **kwargs) -> list[float]:
    """Honesty reward in -2..2 per completion.

    >>> honesty_reward([[{"role": "assistant", "content": "I don't know."}]],
    ...                prompts=[[{"role": "user", "content": "Who will win in 2090?"}]], answerable=[False])
    [0.0]
    """
    return _scored_and_logged(reward_from_env(None), completions, kwargs)


def _scored_and_logged(reward, completions: list[Any], kwargs: dict) -> list[float]:
    log_extra, log_metric = kwargs.get("log_extra"), kwargs.get("log_metric")
    if not callable(log_extra) and not callable(log_metric):
        return score_trainer_batch(reward, completions, **kwargs)
    judged = grade_trainer_batch(reward, completions, **kwargs)
    verdicts = [v for _, _, v in judged]
    if callable(log_extra):
        log_extra("honesty_grade", [g for _, g, _ in judged])
        log_extra("honesty_verdict", verdicts)
    if callable(log_metric) and judged:
        for verdict, name in (("abstained", "abstention_rate"), ("correct", "correct_rate"),
                              ("incorrect", "incorrect_rate")):
            log_metric(f"honesty/{name}", verdicts.count(verdict) / len(verdicts))
    if training_shaping().active:  # the training reward: the grades above through reward.shaping
        return score_trainer_batch(reward, completions, **kwargs)
    return [score for score, _, _ in judged]


def make_honesty_reward(artifact: str | None = None) -> Callable[..., list[float]]:
    """A reward function bound to one artifact (named `honesty_reward` in TRL's logs)."""
    reward = reward_from_env(artifact)

    def honesty_reward(completions: list[Any], **kwargs) -> list[float]:  # noqa: F811 - the logged name
        return _scored_and_logged(reward, completions, kwargs)

    return honesty_reward


async def teacher_reward(completions: list[Any], **kwargs) -> list[float]:
    """Honesty reward in -2..2 graded by the teacher in the loop (`rlwhf.reward.teacher_reward`),
    configured by the RLWHF_TEACHER_* variables; an async function, so TRL runs it concurrently with
    any other async reward. Per-step counters go to $RLWHF_TEACHER_TELEMETRY_DIR/teacher_reward.jsonl.
    """
    import asyncio

    from rlwhf.reward.teacher_reward import reward_for_env

    return await asyncio.to_thread(reward_for_env().score, completions, **kwargs)


def make_teacher_reward(cfg=None, telemetry_dir: str | None = None) -> Callable[..., Any]:
    """An async TRL reward function bound to one `TeacherRewardConfig` (default: from the environment)."""
    from rlwhf.reward.teacher_reward import TeacherReward, TeacherRewardConfig

    reward = TeacherReward(cfg or TeacherRewardConfig.from_env())
    reward.set_telemetry(telemetry_dir or reward.cfg.telemetry_dir)

    async def teacher_reward(completions: list[Any], **kwargs) -> list[float]:  # noqa: F811 - the logged name
        import asyncio

        return await asyncio.to_thread(reward.score, completions, **kwargs)

    teacher_reward.reward = reward  # counters: teacher_reward.reward.records / .summary()
    return teacher_reward


def restore_transformers_callbacks() -> None:
    """Give transformers back its own default trainer callbacks.

    Importing ms-swift's trainers (`swift.trainers.patcher`) swaps transformers' default flow, progress
    and printer callbacks for ms-swift's, and ms-swift's flow callback reads `args.max_epochs`, a field
    only ms-swift's arguments have: a TRL trainer built afterwards in the same process fails at the end
    of its first epoch. Call this before building a TRL trainer in a process that may have imported
    ms-swift (plan validation, the ms-swift reward plugin).
    """
    from transformers import trainer, trainer_callback

    trainer.DEFAULT_CALLBACKS = [trainer_callback.DefaultFlowCallback]
    trainer.DEFAULT_PROGRESS_CALLBACK = trainer_callback.ProgressCallback
    trainer.PrinterCallback = trainer_callback.PrinterCallback
