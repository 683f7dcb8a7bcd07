"""The teacher reward in both backends: ms-swift's AsyncORM through ms-swift's own reward loop, TRL's async
reward in a real GRPOTrainer, and `swift rlhf --reward_funcs rlwhf_teacher` against the loopback teacher."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from _loopback_teacher import LoopbackTeacher
from _swift_grpo import QUESTIONS, rewards_checked_against_the_judge, run_swift_grpo

from rlwhf.reward import judge, plugin_path
from rlwhf.reward.teacher_reward import TeacherRewardConfig, balanced, read_records

ANSWERS = ["The answer is Paris.", "Brazil will win.", "I believe it's 12, but I'm not sure.", "I don't know."]


def teacher_env(monkeypatch, url, tmp_path, **extra):
    cfg = TeacherRewardConfig(source="teacher", base_url=url, model="teacher", cache=str(tmp_path / "cache.sqlite"),
                              timeout=5.0, backoff_base=0.01, **extra)
    for k, v in cfg.to_env().items():
        monkeypatch.setenv(k, v)
    return cfg


def test_swift_async_orm_through_ms_swifts_reward_loop(monkeypatch, tmp_path):
    pytest.importorskip("swift")
    import torch
    from swift.rewards import orms
    from swift.rewards.orm import AsyncORM
    from swift.rl_core.data import GRPOSample
    from swift.rl_core.grpo_algorithm import compute_rewards_per_func
    from swift.utils.utils import import_external_file

    import_external_file(plugin_path())
    cls = orms["rlwhf_teacher"]
    assert issubclass(cls, AsyncORM) and "rlwhf_honesty" in orms
    with LoopbackTeacher() as server:
        teacher_env(monkeypatch, server.url, tmp_path)
        orm = cls(args=SimpleNamespace(output_dir=str(tmp_path / "v0-run")))  # how ms-swift builds it
        samples = [GRPOSample(messages=[{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                              extra={"solution": s, "answerable": ok}, prompt_id=str(i))
                   for i, ((q, s, ok), a) in enumerate(zip(QUESTIONS * 2, ANSWERS * 2))]
        rewards = compute_rewards_per_func(samples, [orm], None, device=torch.device("cpu"),
                                           trainer_state=SimpleNamespace(global_step=6))
        assert server.requests == 4  # the second copy of each answer is graded once
    expected = [float(judge(q, a, s, ok).grade) for (q, s, ok), a in zip(QUESTIONS * 2, ANSWERS * 2)]
    assert rewards[:, 0].tolist() == expected
    [rec] = read_records(tmp_path / "v0-run")
    assert rec["step"] == 7 and rec["completions"] == 8 and rec["requests"] == 4 and rec["cache_hits"] == 4
    assert balanced(rec)


def test_trl_teacher_reward_is_async_and_graded_by_the_teacher(monkeypatch, tmp_path):
    from rlwhf.integrations import trl as trl_rewards
    from rlwhf.train.trl_backend import resolve_reward

    assert asyncio.iscoroutinefunction(trl_rewards.teacher_reward)
    assert resolve_reward("rlwhf_teacher") is trl_rewards.teacher_reward
    with LoopbackTeacher() as server:
        cfg = teacher_env(monkeypatch, server.url, tmp_path)
        conversations = [[{"role": "user", "content": q}] for q, _, _ in QUESTIONS]
        out = asyncio.run(trl_rewards.teacher_reward([[{"role": "assistant", "content": a}] for a in ANSWERS],
                                                     prompts=conversations, solution=[s for _, s, _ in QUESTIONS],
                                                     answerable=[a for _, _, a in QUESTIONS], trainer_state=None))
        fn = trl_rewards.make_teacher_reward(cfg, telemetry_dir=str(tmp_path / "trl"))
        assert fn.__name__ == "teacher_reward" and asyncio.iscoroutinefunction(fn)
        again = asyncio.run(fn(ANSWERS, prompts=[q for q, _, _ in QUESTIONS], solution=[s for _, s, _ in QUESTIONS],
                               answerable=[a for _, _, a in QUESTIONS]))
    assert out == again == [float(judge(q, a, s, ok).grade) for (q, s, ok), a in zip(QUESTIONS, ANSWERS)]
    assert fn.reward.last_stats["cache_hits"] == 4  # the first call's grades, from the shared cache


@pytest.mark.slow
def test_real_trl_grpo_trainer_gathers_the_async_teacher_reward(tiny_model_dir, tmp_path, monkeypatch):
    pytest.importorskip("trl")
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from rlwhf.integrations.trl import make_teacher_reward, restore_transformers_callbacks

    ds = Dataset.from_dict({"prompt": [q for q, _, _ in QUESTIONS], "solution": [s for _, s, _ in QUESTIONS],
                            "answerable": [a for _, _, a in QUESTIONS]})
    with LoopbackTeacher(latency_s=0.05) as server:
        cfg = teacher_env(monkeypatch, server.url, tmp_path)
        reward = make_teacher_reward(cfg, telemetry_dir=str(tmp_path / "trl"))
        args = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=2,
                          max_completion_length=8, max_steps=2, use_cpu=True, report_to="none", logging_steps=1,
                          bf16=False, save_strategy="no")
        restore_transformers_callbacks()
        trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model_dir), reward_funcs=[reward],
                              args=args, train_dataset=ds,
                              processing_class=AutoTokenizer.from_pretrained(tiny_model_dir))
        trainer.train()
        assert server.requests >= 1
    logged = [h for h in trainer.state.log_history if "rewards/teacher_reward/mean" in h]
    assert len(logged) == 2
    recs = read_records(tmp_path / "trl")
    assert [r["step"] for r in recs] == [1, 2] and all(balanced(r) and r["completions"] == 4 for r in recs)
    assert sum(r["requests"] for r in recs) + sum(r["cache_hits"] for r in recs) == 8


@pytest.mark.slow
def test_real_swift_rlhf_with_rlwhf_teacher(tiny_model_dir, tmp_path):
    """`swift rlhf --reward_funcs rlwhf_teacher`: every logged reward is the teacher's grade, counted per step."""
    with LoopbackTeacher(latency_s=0.05) as server:
        cfg = TeacherRewardConfig(source="teacher", base_url=server.url, model="teacher",
                                  cache=str(tmp_path / "cache.sqlite"))
        out = run_swift_grpo(tiny_model_dir, tmp_path, "rlwhf_teacher", 4, cfg.to_env())
        assert server.requests >= 1
    [run] = [p for p in out.iterdir() if p.is_dir()]  # ms-swift's versioned run folder: telemetry lands there
    recs = read_records(run)
    assert [r["step"] for r in recs] == [1, 2] and all(balanced(r) and r["fallbacks"] == 0 for r in recs)
    assert rewards_checked_against_the_judge(run / "completions.jsonl", "RlwhfTeacher") >= 8
