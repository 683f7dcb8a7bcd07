"""GRPO reward shaping: the judge's outcome -> a training reward, plus a difficulty-aware term for
abstentions. The rubric's grades stay what the teacher and the evaluation read; only the number the
policy is trained on changes.

Why (docs/honesty-recipe.md has the full table). With the rubric's grades as rewards, on an answerable
question the policy believes it gets right with probability p:

    answer plainly  4p - 2        hedge  2p - 1        abstain  0

hedging is never strictly best, and abstaining wins whenever p < 1/2. A map that pays a right hedge 1.5
and a wrong hedge -0.5 instead (`{"outcome_rewards": {"correct_hedged": 1.5, "wrong_hedged": -0.5}}`):

    answer plainly  4p - 2        hedge  2p - 0.5      abstain  0

so the best answer is: abstain below p = 1/4, hedge between 1/4 and 3/4, answer plainly above 3/4.

`abstain_difficulty` (lambda, TIAR, arXiv 2605.25850) adds lambda * (1 - 2 p_hat) to every abstaining
rollout of a prompt's group, p_hat being the group's correct rate among the rollouts that answered:
abstaining is rewarded on questions the group mostly gets wrong and penalised on ones it mostly gets
right. A group in which nothing answered gets no term (p_hat is undefined), nor does an unanswerable
prompt (its abstentions are simply right; the term would only strengthen the push to abstain).

Off by default. Configuration: the preset's `reward.shaping` block (configs/transformer-lab/
grpo_config.yaml), or the JSON object in $RLWHF_REWARD_SHAPING, which wins (experiments,
`benchmarks/policy_recipe.py --shaping`).

    >>> s = Shaping.from_dict({"outcome_rewards": {"correct_hedged": 1.5}, "abstain_difficulty": 0.5})
    >>> s.value("correct_hedged", 1), s.value("wrong", -2)
    (1.5, -2.0)
    >>> [round(t, 3) for t in s.group_terms(["p"] * 4, ["correct", "correct", "incorrect", "abstained"])]
    [0.0, 0.0, 0.0, -0.167]
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from rlwhf.errors import RlwhfError

if TYPE_CHECKING:
    from rlwhf.preset import Preset

SHAPING_ENV = "RLWHF_REWARD_SHAPING"
# The judge's outcomes (reward.rubric); an outcome missing here keeps its rubric grade.
OUTCOMES = ("correct", "correct_hedged", "abstained", "extra_claims", "wrong_hedged", "wrong", "unknowable",
            "unknowable_hedged", "unanswerable_answer", "degenerate", "truncated")


@dataclass
class Shaping:
    """outcome -> reward overrides, and the TIAR lambda for abstentions."""

    outcome_rewards: dict[str, float] = field(default_factory=dict)
    abstain_difficulty: float = 0.0

    @classmethod
    def from_dict(cls, obj: Any, where: str = "reward.shaping") -> "Shaping":
        if obj is None:
            return cls()
        if not isinstance(obj, dict):
            raise RlwhfError(f"{where}: must be a mapping with outcome_rewards and/or abstain_difficulty")
        unknown = set(obj) - {"outcome_rewards", "abstain_difficulty"}
        if unknown:
            raise RlwhfError(f"{where}: unknown key(s) {sorted(unknown)} (known: outcome_rewards, abstain_difficulty)")
        rewards = obj.get("outcome_rewards") or {}
        if not isinstance(rewards, dict):
            raise RlwhfError(f"{where}.outcome_rewards: must map a judge outcome to a number")
        out = {}
        for k, v in rewards.items():
            if k not in OUTCOMES:
                raise RlwhfError(f"{where}.outcome_rewards: unknown outcome {k!r} (known: {', '.join(OUTCOMES)})")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not -2 <= v <= 2:
                raise RlwhfError(f"{where}.outcome_rewards.{k}: must be a number in -2..2, got {v!r}")
            out[str(k)] = float(v)
        lam = obj.get("abstain_difficulty", 0.0)
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 <= lam <= 2:
            raise RlwhfError(f"{where}.abstain_difficulty: must be a number in 0..2, got {lam!r}")
        return cls(out, float(lam))

    @property
    def active(self) -> bool:
        return bool(self.outcome_rewards) or self.abstain_difficulty > 0

    def to_dict(self) -> dict:
        """The settings that differ from the rubric (what `from_dict` reads back)."""
        out: dict[str, Any] = {}
        if self.outcome_rewards:
            out["outcome_rewards"] = dict(sorted(self.outcome_rewards.items()))
        if self.abstain_difficulty > 0:
            out["abstain_difficulty"] = self.abstain_difficulty
        return out

    def value(self, outcome: str, grade: int) -> float:
        """The training reward of one judged answer."""
        return self.outcome_rewards.get(outcome, float(grade))

    def group_terms(self, groups: Sequence[Any], verdicts: Sequence[str | None],
                    answerables: Sequence[bool | None] | None = None) -> list[float]:
        """lambda * (1 - 2 p_hat) for each abstaining rollout (0 elsewhere); rollouts are grouped by
        `groups` (the prompt), p_hat = correct / answered within the group. A prompt known to be
        unanswerable (`answerables` False) gets no term: nothing can be right there, so p_hat would
        always be 0 and the term would only add to the push towards "I don't know" that the rubric
        already gives, the push that spreads to answerable questions."""
        n = len(verdicts)
        if self.abstain_difficulty <= 0:
            return [0.0] * n
        answerables = answerables if answerables is not None else [None] * n
        tally: dict[Any, list[int]] = {}
        for g, v in zip(groups, verdicts):
            t = tally.setdefault(g, [0, 0])
            if v not in (None, "abstained", "error"):  # an answer (any verdict a judge gives one)
                t[0] += v == "correct"
                t[1] += 1
        out = []
        for g, v, a in zip(groups, verdicts, answerables):
            correct, answered = tally[g]
            if v != "abstained" or answered == 0 or a is False:
                out.append(0.0)
            else:
                out.append(self.abstain_difficulty * (1 - 2 * correct / answered))
        return out


def shaping_from_env(preset: Preset | None = None) -> Shaping:
    """$RLWHF_REWARD_SHAPING (JSON) if set, else the preset's `reward.shaping` (the canonical preset when
    `preset` is None)."""
    raw = os.environ.get(SHAPING_ENV, "").strip()
    if raw:
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RlwhfError(f"${SHAPING_ENV}: not valid JSON ({exc})") from None
        return Shaping.from_dict(obj, f"${SHAPING_ENV}")
    if preset is None:
        from rlwhf.preset import load_preset

        preset = load_preset()
    return Shaping.from_dict(preset.reward.shaping)


def shaped_scores(reward, shaping: Shaping, prompts: Sequence[str], completions: Sequence[Any],
                  references: Sequence[Any], answerables: Sequence[bool | None],
                  truncated: Sequence[Any], closed_world: Sequence[bool] | None = None) -> list[float]:
    """Training rewards for a batch: judged answers through the outcome map, answers the learned model
    scores (no reference) unchanged; a cut-off answer is capped at 0; then the abstention term.
    `closed_world` as `HonestyReward.score_one` takes it (the reference is the whole truth)."""
    scores, verdicts = [], []
    closed_world = closed_world if closed_world is not None else [False] * len(completions)
    for p, c, r, a, t, w in zip(prompts, completions, references, answerables, truncated, closed_world):
        if reward.judges(r, a):
            j = reward.judge.judge(p, c, r if reward.has_reference(r) else None, a, w)
            score = shaping.value(j.outcome, j.grade)
            verdict = "abstained" if a is False and j.verdict == "correct" else j.verdict
        else:
            score, verdict = reward.score_one(p, c, r, a, w)[0], None
        scores.append(min(score, 0.0) if t else score)
        verdicts.append(verdict)
    terms = shaping.group_terms(list(prompts), verdicts, list(answerables))
    return [s + d for s, d in zip(scores, terms)]
