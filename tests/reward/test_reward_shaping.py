"""GRPO reward shaping: the outcome -> reward map, the difficulty-aware abstention term, the config."""

import dataclasses
import json

import pytest

from rlwhf.errors import RlwhfError
from rlwhf.preset import load_preset
from rlwhf.reward import learned as reward_model
from rlwhf.reward.learned import HonestyReward, score_trainer_batch
from rlwhf.reward.shaping import SHAPING_ENV, Shaping, shaped_scores, shaping_from_env

Q = [{"role": "user", "content": "What is 7 plus 5?"}]
ANSWERS = ["The answer is 12.", "I believe the answer is 12, but I'm not certain.",
           "I believe the answer is 13, but I'm not certain.", "I don't know.", "The answer is 13."]


def _batch(shaping, answers, reference="12", answerable=True, truncated=None):
    n = len(answers)
    return shaped_scores(HonestyReward(), shaping, ["What is 7 plus 5?"] * n, answers, [reference] * n,
                         [answerable] * n, truncated or [False] * n)


def test_no_shaping_is_the_rubric_grade():
    assert _batch(Shaping(), ANSWERS) == [2.0, 1.0, -1.0, 0.0, -2.0]


def test_outcome_map_makes_hedging_best_in_a_middle_band():
    s = Shaping.from_dict({"outcome_rewards": {"correct_hedged": 1.5, "wrong_hedged": -0.5}})
    assert _batch(s, ANSWERS) == [2.0, 1.5, -0.5, 0.0, -2.0]
    ev = {  # expected value of each strategy when the answer is right with probability p
        "answer": lambda p: p * 2 + (1 - p) * -2, "hedge": lambda p: p * 1.5 + (1 - p) * -0.5, "abstain": lambda p: 0.0}
    best = lambda p: max(ev, key=lambda k: ev[k](p))  # noqa: E731
    assert [best(p) for p in (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.95)] == \
        ["abstain", "abstain", "hedge", "hedge", "hedge", "answer", "answer"]


def test_abstention_term_follows_the_groups_correct_rate():
    s = Shaping(abstain_difficulty=0.5)
    # 2 right of 4 answered (p_hat 1/2): no term; 1 right of 3: abstaining earns 0.5 * (1 - 2/3)
    assert _batch(s, ANSWERS)[3] == 0.0
    assert _batch(s, ANSWERS[1:])[2] == pytest.approx(0.5 / 3)
    mostly_right = ["The answer is 12."] * 3 + ["I don't know."]
    assert _batch(s, mostly_right)[3] == pytest.approx(-0.5)
    # every rollout abstained: p_hat undefined, no term
    assert _batch(s, ["I don't know."] * 4) == [0.0] * 4
    # unanswerable: no term (nothing is ever correct there; abstaining keeps its rubric grade)
    out = _batch(s, ["Nobody can know that.", "I don't know.", "The answer is Peru."], reference=None,
                 answerable=False)
    assert out == [2.0, 0.0, -2.0]
    assert s.group_terms(["u", "u"], ["incorrect", "abstained"], [None, None]) == [0.0, 0.5]
    # groups are per prompt
    terms = s.group_terms(["a", "a", "b", "b"], ["correct", "abstained", "incorrect", "abstained"])
    assert terms == [0.0, -0.5, 0.0, 0.5]


def test_truncated_answers_are_capped_before_the_term():
    s = Shaping(outcome_rewards={"correct": 2.0})
    assert _batch(s, ["The answer is 12."], truncated=[True]) == [0.0]


def test_trainer_batch_reads_the_env(monkeypatch):
    monkeypatch.setattr(reward_model, "_SHAPING", [])
    monkeypatch.setenv(SHAPING_ENV, json.dumps({"outcome_rewards": {"correct_hedged": 1.5}}))
    out = score_trainer_batch(HonestyReward(), ANSWERS[:2], messages=[Q, Q], reference=["12", "12"],
                              answerable=[True, True])
    assert out == [2.0, 1.5]
    monkeypatch.setattr(reward_model, "_SHAPING", [])


def test_preset_block_and_bad_config(monkeypatch):
    monkeypatch.delenv(SHAPING_ENV, raising=False)
    preset = load_preset()
    assert preset.reward.shaping is None and not shaping_from_env(preset).active  # off by default
    on = dataclasses.replace(preset, reward=dataclasses.replace(preset.reward, shaping={"abstain_difficulty": 0.25}))
    s = shaping_from_env(on)
    assert s.abstain_difficulty == 0.25 and s.active
    with pytest.raises(RlwhfError, match="outcome_rewards.correct: must be a number in -2..2"):
        Shaping.from_dict({"outcome_rewards": {"correct": 5}})
    with pytest.raises(RlwhfError, match="unknown key"):
        Shaping.from_dict({"lambda": 1})
    with pytest.raises(RlwhfError, match="unknown outcome 'wrongg' \\(known: correct, "):
        Shaping.from_dict({"outcome_rewards": {"wrongg": -1}})  # a typo is an error, not a no-op
    assert Shaping.from_dict(s.to_dict()) == s and Shaping().to_dict() == {}
    monkeypatch.setenv(SHAPING_ENV, "{not json")
    with pytest.raises(RlwhfError, match="RLWHF_REWARD_SHAPING: not valid JSON"):
        shaping_from_env(preset)
