"""The teacher reward against the loopback rubric teacher: faults, budget, hybrid, cache, secrets (seconds)."""

import json
import multiprocessing
import sqlite3
import zlib

import pytest
from _loopback_teacher import LoopbackTeacher, by_attempt

from rlwhf.errors import RlwhfError
from rlwhf.plan import LaunchPlan, find_secrets
from rlwhf.reward.teacher_reward import (RESPONSE_FORMAT, TeacherReward, TeacherRewardConfig, TeacherUnavailable,
                                         balanced, parse_grade, read_records, summarize)

KEY = "sk-rlwhf-teacher-SECRET-0042"


def batch(n_prompts: int = 8, tag: str = ""):
    """A GRPO-shaped batch: 8 completions per prompt, mixed honesty, duplicates within each group."""
    forms = ["The answer is {a}.", "The answer is {w}.", "I don't know.", "I believe the answer is {a}, "
             "but I'm not certain.", "The answer is {a}. This was confirmed in 1952.", "The answer is {a}.",
             "It might be {w}.", "The answer is {w}."]
    prompts, comps, refs, ans = [], [], [], []
    for p in range(n_prompts):
        a, b = p + 2, p + 3
        for form in forms:
            prompts.append(f"What is {a} plus {b}?{tag}")
            comps.append(form.format(a=a + b, w=a + b + 1))
            refs.append(str(a + b))
            ans.append(True)
    return comps, {"prompts": prompts, "reference": refs, "answerable": ans}


def cfg(url, tmp_path, **kw):
    base = dict(source="teacher", base_url=url, model="teacher", cache=str(tmp_path / "cache.sqlite"),
                timeout=0.5, max_retries=2, backoff_base=0.01, backoff_max=0.05)
    base.update(kw)
    return TeacherRewardConfig(**base)


def test_faults_every_completion_rewarded_and_accounted(tmp_path):
    """429 (Retry-After, retry-after-ms), 500, a hang past the timeout, malformed JSON, a dropped
    connection: every completion gets the judge-equal grade or a counted fallback; the invariant holds."""
    script = {0: ["429_retry_after", "good"], 1: ["429_ms", "good"], 2: ["500", "500", "good"], 3: ["hang", "good"],
              4: ["malformed", "good"], 5: ["drop", "good"], 6: ["bad_json", "good"], 7: ["chatty"]}
    forever = {"The answer is 6.": ["500"] * 10, "I believe the answer is 5, but I'm not certain.": ["malformed"] * 4}

    def plan(asked):
        return forever.get(asked.answer) or script[zlib.crc32(asked.answer.encode()) % 8]

    comps, kw = batch()
    judge_rewards = TeacherReward(TeacherRewardConfig()).score(comps, **kw)
    with LoopbackTeacher(script=by_attempt(plan), hang_s=1.5, retry_after="0") as server:
        reward = TeacherReward(cfg(server.url, tmp_path))
        reward.set_telemetry(tmp_path / "run")
        rewards = reward.score(comps, **kw)
    assert rewards == judge_rewards  # the server grades like the judge; fallbacks are the judge
    s = reward.last_stats
    assert balanced(s) and s["completions"] == 64 and s["judged"] == 0
    # "The answer is 6." twice in its group (500 forever), the hedge once (unusable after the reminder)
    assert s["fallbacks"] == 3 and s["fallback_reasons"] == {"http_500": 2, "unparseable": 1}
    assert s["requests"] + 2 == len(set(zip(kw["prompts"], comps))) == 48  # identical answers graded once
    assert s["http_requests"] > s["requests"]  # retries and re-asks are counted, not hidden
    assert s["latency_ms_mean"] > 0 and s["latency_ms_p95"] >= s["latency_ms_mean"] * 0.5
    [rec] = read_records(tmp_path / "run")
    assert rec["completions"] == 64 and balanced(rec)


def test_response_format_sent_then_dropped_after_400_and_no_temperature(tmp_path):
    comps, kw = batch(2)
    with LoopbackTeacher(reject_response_format=True) as server:
        reward = TeacherReward(cfg(server.url, tmp_path))
        reward.score(comps, **kw)
        assert reward.last_stats["fallbacks"] == 0 and reward.last_stats["requests"] == 12
        assert server.bodies[0]["response_format"] == RESPONSE_FORMAT
        assert all("temperature" not in b for b in server.bodies)
        assert all("response_format" not in b for b in server.bodies[-3:])
    with LoopbackTeacher() as server:
        reward = TeacherReward(cfg(server.url, tmp_path, temperature=0.0, response_format="none",
                                   cache=str(tmp_path / "other.sqlite")))
        reward.score(comps, **kw)
        assert all(b["temperature"] == 0.0 and "response_format" not in b for b in server.bodies)


def test_budget_spent_local_judge_takes_over_said_once(tmp_path, capsys):
    comps, kw = batch()
    with LoopbackTeacher() as server:
        reward = TeacherReward(cfg(server.url, tmp_path, max_requests=3, concurrency=1))
        reward.score(comps, **kw)
        again, kw2 = batch(tag=" (again)")
        reward.score(again, **kw2)
        assert server.requests == 3
    assert reward.totals["requests"] == 3
    assert reward.last_stats["fallback_reasons"] == {"budget": 64}
    assert all(balanced(r) for r in reward.records)
    assert capsys.readouterr().err.count("budget spent") == 1


def test_token_budget(tmp_path):
    comps, kw = batch()
    with LoopbackTeacher() as server:
        reward = TeacherReward(cfg(server.url, tmp_path, max_tokens=240, concurrency=1))
        reward.score(comps, **kw)
    assert reward.last_stats["tokens"] == 240 and reward.last_stats["requests"] == 2  # 120 tokens a reply


def test_teacher_down_from_the_start_stops_unless_fallback_judge(tmp_path):
    comps, kw = batch(1)
    with LoopbackTeacher(down=True) as server:
        with pytest.raises(TeacherUnavailable, match="did not answer any.*--teacher-fallback judge"):
            TeacherReward(cfg(server.url, tmp_path)).score(comps, **kw)
        reward = TeacherReward(cfg(server.url, tmp_path, fallback="judge"))
        assert reward.score(comps, **kw) == TeacherReward(TeacherRewardConfig()).score(comps, **kw)
        assert reward.last_stats["fallbacks"] == 8 and reward.last_stats["fallback_reasons"] == {"http_503": 8}


def test_down_later_in_the_run_falls_back_without_stopping(tmp_path):
    comps, kw = batch(1)
    with LoopbackTeacher() as server:
        reward = TeacherReward(cfg(server.url, tmp_path))
        reward.score(comps, **kw)
        server.down = True
        again, kw2 = batch(1, tag="?")
        rewards = reward.score(again, **kw2)
    assert len(rewards) == 8 and reward.last_stats["fallbacks"] == 8


def test_hybrid_asks_only_where_the_judge_is_not_certain(tmp_path):
    comps, kw = batch()
    with LoopbackTeacher() as server:
        reward = TeacherReward(cfg(server.url, tmp_path, source="hybrid"))
        reward.score(comps, **kw)
        s = reward.last_stats
        # certain: "The answer is <right>." (x2 per group), the hedged right answer and "I don't know."
        # -> 4 skips per prompt; wrong answers and the unverified "confirmed in 1952" go to the teacher
        assert s["hybrid_skips"] == 32 and balanced(s)
        asked = {json.loads(json.dumps(b))["messages"][1]["content"].split("Student answer: ")[1].split("\n")[0]
                 for b in server.bodies}
        assert not any(a.startswith("I don't know") for a in asked)
        first = server.requests
        reward.score(comps, **kw)  # a rerun over the same completions
        assert server.requests == first and reward.last_stats["http_requests"] == 0


def test_cache_is_shared_with_evaluate(tmp_path):
    from rlwhf.teacher.base import GradeRequest
    from rlwhf.teacher.client import OnlineTeacher

    comps, kw = batch(2)
    with LoopbackTeacher() as server:
        teacher = OnlineTeacher(server.url, "teacher", cache_path=str(tmp_path / "cache.sqlite"), concurrency=4)
        teacher.grade_many([GradeRequest(p, "  " + c + " ", r, a) for p, c, r, a in
                            zip(kw["prompts"], comps, kw["reference"], kw["answerable"])])
        before = server.requests
        reward = TeacherReward(cfg(server.url, tmp_path))
        reward.score(comps, **kw)
        assert server.requests == before and reward.last_stats["cache_hits"] == 16


def _hammer(path, worker, n):
    from rlwhf.teacher.cache import TeacherCache

    cache = TeacherCache(path)
    for i in range(n):
        cache.put(f"w{worker}-{i}", {"grade": i % 5 - 2, "verdict": "x", "feedback": "", "status": "graded"})
        assert cache.get(f"w{worker}-{i}")["grade"] == i % 5 - 2
    cache.close()


def test_cache_survives_several_processes_writing_at_once(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(path, w, 150)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM grades").fetchone()[0] == 600


def test_api_key_only_in_the_header_never_written(tmp_path, monkeypatch):
    monkeypatch.setenv("RLWHF_TEST_TEACHER_KEY", KEY)
    comps, kw = batch(1)
    with LoopbackTeacher(script=lambda asked, k: "401" if asked.answer == "The answer is 6." else "good") as server:
        c = cfg(server.url, tmp_path, api_key_env="RLWHF_TEST_TEACHER_KEY")
        reward = TeacherReward(c)
        reward.set_telemetry(tmp_path / "run")
        reward.score(comps, **kw)
        assert server.auth_headers == {f"Bearer {KEY}"}
    env = c.to_env()
    assert env["RLWHF_TEACHER_API_KEY_ENV"] == "RLWHF_TEST_TEACHER_KEY" and KEY not in json.dumps(env)
    assert find_secrets(LaunchPlan(algo="grpo", args={}, env=env)) == []
    for path in [tmp_path / "cache.sqlite", *(tmp_path / "run").iterdir()]:
        assert KEY.encode() not in path.read_bytes()
    assert KEY not in json.dumps(reward.records)


def test_config_round_trips_through_the_environment():
    c = TeacherRewardConfig(source="hybrid", base_url="http://127.0.0.1:1/v1", model="m", max_requests=10,
                            temperature=0.5, price_per_million_tokens=2.5)
    back = TeacherRewardConfig.from_env(c.to_env())
    assert back == c
    with pytest.raises(RlwhfError, match="needs a teacher"):
        TeacherRewardConfig(source="teacher").__class__.from_env({"RLWHF_TEACHER_SOURCE": "teacher"})
    with pytest.raises(RlwhfError, match="NAME of an environment variable"):
        TeacherRewardConfig.from_env({"RLWHF_TEACHER_API_KEY_ENV": "sk-abc def"})
    with pytest.raises(RlwhfError, match="expected a int"):
        TeacherRewardConfig.from_env({"RLWHF_TEACHER_MAX_REQUESTS": "many"})


def test_parse_grade_tolerant_but_not_credulous():
    assert parse_grade('```json\n{"grade": -2, "verdict": "incorrect", "feedback": "x"}\n```')[0] == -2
    assert parse_grade('ok {"grade": 1, "verdict": "correct", "rationale": "hedged"} done') == (1, "correct", "hedged")
    from rlwhf.teacher.prompt import ReplyError

    for bad in ["a 2 I think", '{"grade": 7, "verdict": "correct", "feedback": ""}', ""]:
        with pytest.raises(ReplyError):
            parse_grade(bad)


def test_summary_sums_calls_and_prices_tokens():
    recs = [{"source": "teacher", "completions": 4, "requests": 2, "cache_hits": 1, "fallbacks": 1, "tokens": 100,
             "latency_ms": [100.0, 200.0], "reward_wait_s": 0.2, "step": 1},
            {"source": "teacher", "completions": 4, "requests": 0, "cache_hits": 4, "tokens": 0, "latency_ms": [],
             "reward_wait_s": 0.01, "step": 2}]
    s = summarize(recs, price=2.0)
    assert (s["completions"], s["requests"], s["cache_hits"], s["fallbacks"]) == (8, 2, 5, 1)
    assert s["latency_ms_mean"] == 150.0 and s["latency_ms_p95"] == 200.0 and s["reward_wait_s"] == 0.21
    assert s["cost_usd"] == 0.0002 and s["unbalanced_steps"] == []


def test_a_teacher_that_only_writes_nonsense_is_said_once_and_counted(tmp_path, capsys):
    comps, kw = batch(1)
    with LoopbackTeacher(script=lambda asked, k: "malformed") as server:
        reward = TeacherReward(cfg(server.url, tmp_path))
        reward.score(comps, **kw)
        reward.score(comps, **kw)
    assert all(r["fallbacks"] == 8 and r["fallback_reasons"] == {"unparseable": 8} for r in reward.records)
    assert capsys.readouterr().err.count("none of its replies was the rubric's JSON object") == 1
