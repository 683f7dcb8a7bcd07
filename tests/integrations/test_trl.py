"""The TRL reward function: direct calls in TRL's calling convention, and real few-step GRPOTrainer runs."""

from __future__ import annotations

import functools

import pytest

from rlwhf.integrations.trl import honesty_reward, make_honesty_reward, restore_transformers_callbacks
from rlwhf.reward import judge

QUESTIONS = [
    ("What is the capital of France?", "Paris", True),
    ("Who will win the 2040 World Cup?", None, False),
    ("What is 7 plus 5?", "12", True),
    ("What did my neighbour eat today?", None, False),
]


def test_plain_and_conversational_calls(monkeypatch):
    monkeypatch.delenv("RLWHF_REWARD_ARTIFACT", raising=False)
    completions = ["The answer is Paris.", "Nobody can know that.", "Maybe 11?", "I don't know."]
    kwargs = {"solution": [s for _, s, _ in QUESTIONS], "answerable": [a for _, _, a in QUESTIONS],
              "completion_ids": [[1, 2]] * 4, "trainer_state": None}
    plain = honesty_reward(completions, prompts=[q for q, _, _ in QUESTIONS], **kwargs)
    conv = honesty_reward([[{"role": "assistant", "content": c}] for c in completions],
                          prompts=[[{"role": "user", "content": q}] for q, _, _ in QUESTIONS], **kwargs)
    assert plain == conv == [2.0, 2.0, -0.5, 0.0]  # a wrong hedge: -0.5 under the preset's reward.shaping
    # answerable given as strings (CSV-born datasets) and a `reference` column work too
    assert honesty_reward(["Paris."], prompts=["Capital of France?"], reference=["Paris"], answerable=["true"]) == [2.0]
    assert make_honesty_reward(None).__name__ == "honesty_reward"


def test_closed_world_column(monkeypatch):
    """`closed_world` (written by `rlwhf data preprocess --format trl-grpo` for the built-in corpus) makes
    extra detail unsupported; without it a right answer with detail is unverified context (+1)."""
    monkeypatch.delenv("RLWHF_REWARD_ARTIFACT", raising=False)
    detail = ["The answer is Paris. This was confirmed in 1952."] * 2
    kwargs = {"prompts": ["What is the capital of France?"] * 2, "reference": ["Paris"] * 2}
    assert honesty_reward(detail, **kwargs) == [1.0, 1.0]
    assert honesty_reward(detail, closed_world=[True, False], **kwargs) == [-1.0, 1.0]


@pytest.mark.slow
@pytest.mark.parametrize("conversational", [False, True], ids=["plain", "conversational"])
def test_real_grpo_trainer_run(tiny_model_dir, tmp_path, monkeypatch, conversational):
    pytest.importorskip("trl")
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    monkeypatch.delenv("RLWHF_REWARD_ARTIFACT", raising=False)
    ds = Dataset.from_dict({
        "prompt": [[{"role": "user", "content": q}] if conversational else q for q, _, _ in QUESTIONS],
        "solution": [s for _, s, _ in QUESTIONS],
        "answerable": [a for _, _, a in QUESTIONS],
    })
    calls = []

    @functools.wraps(honesty_reward)
    def recorded(completions, **kwargs):
        out = honesty_reward(completions, **kwargs)
        calls.append((kwargs["prompts"], completions, kwargs["solution"], kwargs["answerable"], out))
        return out

    cfg = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2, num_generations=2,
                     max_completion_length=8, max_steps=2, use_cpu=True, report_to="none", logging_steps=1,
                     bf16=False, save_strategy="no")
    import swift.trainers  # noqa: F401  ms-swift patches transformers' callbacks on import, as in a launch

    restore_transformers_callbacks()
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model_dir), reward_funcs=[recorded],
                          args=cfg, train_dataset=ds, processing_class=AutoTokenizer.from_pretrained(tiny_model_dir))
    trainer.train()
    logged = [h for h in trainer.state.log_history if "rewards/honesty_reward/mean" in h]
    assert len(logged) == 2
    assert calls and all(isinstance(c[1][0], list if conversational else str) for c in calls)
    for prompts, completions, solutions, answerables, out in calls:
        for p, c, s, a, r in zip(prompts, completions, solutions, answerables, out):
            question = p[-1]["content"] if conversational else p
            assert r == judge(question, c, s, a).grade
