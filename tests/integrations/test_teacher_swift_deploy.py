"""The teacher reward against ms-swift's own OpenAI-compatible server (`swift deploy`, a tiny untrained policy
that writes nonsense): transport, the JSON-schema request, usage tokens and fallback counting, for real."""

from __future__ import annotations

import pytest

from rlwhf.reward import judge
from rlwhf.reward.teacher_reward import RESPONSE_FORMAT, TeacherReward, TeacherRewardConfig, balanced, probe

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("swift_deploy_teacher")]  # one server, one worker

ANSWERS = ["The answer is 12.", "The answer is 13.", "I believe it is 12, but I'm not sure.", "I don't know."]


def _batch():
    comps = ANSWERS * 2
    return comps, {"prompts": ["What is 7 plus 5?"] * len(comps), "solution": ["12"] * len(comps),
                   "answerable": [True] * len(comps)}


def test_nonsense_teacher_every_completion_falls_back_counted(swift_deploy_teacher, tmp_path):
    comps, kw = _batch()
    cfg = TeacherRewardConfig(source="teacher", base_url=swift_deploy_teacher, model="teacher",
                              cache=str(tmp_path / "cache.sqlite"), timeout=60, max_retries=1)
    assert probe(cfg) is None  # it answers: up, whatever it says
    reward = TeacherReward(cfg)
    sent = []
    complete = reward.client.complete
    reward.client.complete = lambda messages, **params: sent.append(params) or complete(messages, **params)
    rewards = reward.score(comps, **kw)
    assert rewards == [float(judge("What is 7 plus 5?", c, "12", True).grade) for c in comps]
    s = reward.last_stats
    # 4 distinct answers, each asked, re-asked once with the reminder, then graded by the local judge
    assert (s["requests"], s["fallbacks"], s["http_requests"]) == (0, 8, 8)
    assert s["fallback_reasons"] == {"unparseable": 8} and balanced(s)
    assert s["prompt_tokens"] > 1000 * 8 and s["completion_tokens"] > 0  # from the server's `usage`
    assert sent and all(p == {"response_format": RESPONSE_FORMAT} for p in sent)  # schema accepted, no temperature
    assert len(reward.cache) == 0  # nothing unusable is cached: a rerun asks again


def test_hybrid_skips_what_the_judge_is_sure_of(swift_deploy_teacher, tmp_path):
    comps, kw = _batch()
    reward = TeacherReward(TeacherRewardConfig(source="hybrid", base_url=swift_deploy_teacher, model="teacher",
                                               cache=str(tmp_path / "cache.sqlite"), timeout=60, max_retries=1))
    reward.score(comps, **kw)
    s = reward.last_stats
    # the right answer (plain or hedged) and "I don't know." are certain; the wrong one goes to the teacher
    # (asked once for both copies, re-asked once on nonsense, then graded by the judge)
    assert s["hybrid_skips"] == 6 and s["fallbacks"] == 2 and s["http_requests"] == 2 and balanced(s)
