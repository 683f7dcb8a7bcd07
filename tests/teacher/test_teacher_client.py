"""The online teacher against a loopback server that misbehaves on purpose (seconds, no network)."""

import json
import sqlite3
from pathlib import Path

import pytest
from _loopback_teacher import FLAKY_STEPS, LoopbackTeacher, by_attempt, expected_grade, grade_by_index

from rlwhf.cli.main import main
from rlwhf.errors import RlwhfError
from rlwhf.teacher.client import OnlineTeacher, parse_retry_after
from rlwhf.teacher.base import GradeRequest

KEY = "sk-rlwhf-test-SECRET-4711"


def write_answers(path: Path, n: int) -> Path:
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"row-{i}", "prompt": f"Q{i}: what is {i} + 1?", "answer": f"{i + 1}",
                                 "reference": str(i + 1), "answerable": True}) + "\n")
    return path


def cli_args(server, out, answers, cache, **extra):
    args = ["evaluate", "--answers", str(answers), "--output-dir", str(out), "--teacher", "openai",
            "--base-url", server.url, "--teacher-model", "flaky-grader", "--api-key-env", "RLWHF_TEST_TEACHER_KEY",
            "--cache", str(cache), "--timeout", "0.3", "--backoff-base", "0.01", "--max-retries", "3",
            "--concurrency", "8"]
    for k, v in extra.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    return args


def test_flaky_server_200_rows_every_row_accounted_retries_exact_then_cache(
        flaky_server, recorded_sleeps, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RLWHF_TEST_TEACHER_KEY", KEY)
    answers = write_answers(tmp_path / "answers_in.jsonl", 200)
    cache = tmp_path / "cache" / "teacher.sqlite"

    assert main(cli_args(flaky_server, tmp_path / "run1", answers, cache)) == 1  # 1: some rows are errors
    rows = [json.loads(line) for line in open(tmp_path / "run1" / "answers.jsonl")]
    metrics = json.loads((tmp_path / "run1" / "metrics.json").read_text())

    # Every row comes back, in order: graded with the server's grade, or an explicit error.
    assert [r["id"] for r in rows] == [f"row-{i}" for i in range(200)]
    for i, r in enumerate(rows):
        if i % 10 == 8:
            assert r["verdict"] == "error" and r["status"] == "error" and r["grade"] is None
            assert "after a reminder" in r["error"]
        else:
            assert r["grade"] == expected_grade(i) and r["verdict"] != "error" and "status" not in r

    # 20 rows per script: requests and retries follow exactly from the pattern.
    per_row = {k: len(v) for k, v in FLAKY_STEPS.items()}
    assert flaky_server.requests == 20 * sum(per_row.values()) == 380
    t = metrics["teacher"]
    assert t["requests"] == 380
    assert t["retries"] == 120
    assert t["retries_by_reason"] == {"http_429": 40, "http_500": 20, "http_502": 20, "timeout": 20,
                                      "bad_response": 20}
    assert t["reminders"] == 60
    assert (t["graded"], t["errors"], t["cache_hits"]) == (180, 20, 0)
    assert metrics["n"] == 180 and metrics["errors"] == 20
    # Retry-After: 2 was honoured (20 times); the other delays are exponential with jitter.
    assert sorted(recorded_sleeps)[-20:] == [2.0] * 20
    others = sorted(recorded_sleeps)[:-20]
    assert len(others) == 100 and all(0.01 <= d < 0.02 * 2 ** 3 for d in others)

    # Second run: all from the cache, not one request, same rows.
    before = flaky_server.requests
    assert main(cli_args(flaky_server, tmp_path / "run2", answers, cache)) == 1
    assert flaky_server.requests == before
    rows2 = [json.loads(line) for line in open(tmp_path / "run2" / "answers.jsonl")]
    assert [(r["grade"], r["verdict"]) for r in rows2] == [(r["grade"], r["verdict"]) for r in rows]
    t2 = json.loads((tmp_path / "run2" / "metrics.json").read_text())["teacher"]
    assert (t2["requests"], t2["cache_hits"], t2["errors"]) == (0, 200, 20)

    # The key went to the server and nowhere else.
    assert flaky_server.auth_headers == {f"Bearer {KEY}"}
    captured = capsys.readouterr()
    assert captured.err.count("20 row(s) could not be graded") == 2
    assert KEY not in captured.out + captured.err
    for f in list(tmp_path.rglob("*")):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f


def test_transport_failures_become_error_rows_and_are_retried_on_restart(tmp_path, recorded_sleeps):
    always_503 = {0: ["503"] * 10, 1: ["good"], 2: ["401"] * 10}
    with LoopbackTeacher(grader=grade_by_index, script=by_attempt(lambda a: always_503[a.index % 3])) as server:
        teacher = OnlineTeacher(server.url, "m", cache_path=tmp_path / "c.sqlite", max_retries=2,
                                backoff_base=0.01, timeout=1)
        reqs = [GradeRequest(f"Q{i}: ?", "a") for i in range(6)]
        res = teacher.grade_many(reqs)
        assert [r.status for r in res] == ["error", "graded", "error"] * 2
        assert "http_503" in res[0].error and "after 3 request(s)" in res[0].error
        assert "http_401" in res[2].error  # not retried: a 401 does not improve
        assert server.requests == 2 * (3 + 1 + 1)
        assert teacher.stats["retries_by_reason"] == {"http_503": 4}
        # Transport errors are not cached: a restart asks exactly those rows again.
        again = OnlineTeacher(server.url, "m", cache_path=tmp_path / "c.sqlite", max_retries=0, timeout=1)
        res2 = again.grade_many(reqs)
        assert again.stats["cache_hits"] == 2 and again.stats["requests"] == 4
        assert [r.status for r in res2] == ["error", "graded", "error"] * 2


def test_interrupted_run_keeps_finished_grades(tmp_path):
    with LoopbackTeacher(grader=grade_by_index) as server:
        cache = tmp_path / "c.sqlite"
        reqs = [GradeRequest(f"Q{i}: ?", "a") for i in range(40)]
        teacher = OnlineTeacher(server.url, "m", cache_path=cache, concurrency=2, timeout=1)
        seen = []

        def stop_after_five(i, res):
            seen.append(i)
            if len(seen) == 5:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            teacher.grade_many(reqs, on_result=stop_after_five)
        teacher.close()
        kept = sqlite3.connect(cache).execute("SELECT COUNT(*) FROM grades").fetchone()[0]
        assert 5 <= kept < 40
        first = server.requests
        again = OnlineTeacher(server.url, "m", cache_path=cache, timeout=1)
        res = again.grade_many(reqs)
        assert all(r.status == "graded" for r in res)
        assert again.stats["cache_hits"] == kept and again.stats["requests"] == 40 - kept
        assert server.requests == first + 40 - kept


def test_cache_key_separates_teacher_model_rubric_and_reference(tmp_path):
    with LoopbackTeacher(grader=grade_by_index) as server:
        cache = tmp_path / "c.sqlite"
        base = GradeRequest("Q1: ?", "a", reference="x")
        OnlineTeacher(server.url, "m1", cache_path=cache).grade_many([base])
        for model, req in [("m1", base), ("m2", base), ("m1", GradeRequest("Q1: ?", "a", reference="y")),
                           ("m1", GradeRequest("Q1: ?", "b", reference="x"))]:
            OnlineTeacher(server.url, model, cache_path=cache).grade_many([req])
        assert server.requests == 4  # the repeat of (m1, base) was a hit


def test_concurrency_is_bounded(tmp_path):
    with LoopbackTeacher(grader=grade_by_index, latency_s=0.2) as server:
        t = OnlineTeacher(server.url, "m", cache_path=tmp_path / "c.sqlite", concurrency=3, timeout=5)
        res = t.grade_many([GradeRequest(f"Q{i}: ?", "a") for i in range(12)])
        assert all(r.status == "graded" for r in res)
        assert server.max_inflight == 3


def test_identical_rows_are_asked_once(tmp_path):
    with LoopbackTeacher(grader=grade_by_index) as server:
        t = OnlineTeacher(server.url, "m", cache_path=tmp_path / "c.sqlite")
        res = t.grade_many([GradeRequest("Q3: ?", "a")] * 5)
        assert server.requests == 1 and [r.grade for r in res] == [expected_grade(3)] * 5


def test_missing_key_for_a_remote_endpoint_is_a_usage_error(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("RLWHF_NO_SUCH_KEY", raising=False)
    with pytest.raises(RlwhfError, match="RLWHF_NO_SUCH_KEY"):
        OnlineTeacher("https://api.example.invalid/v1", "m", api_key_env="RLWHF_NO_SUCH_KEY",
                      cache_path=tmp_path / "c.sqlite")
    answers = write_answers(tmp_path / "a.jsonl", 2)
    code = main(["evaluate", "--answers", str(answers), "--output-dir", "out", "--teacher", "openai",
                 "--base-url", "https://api.example.invalid/v1", "--api-key-env", "RLWHF_NO_SUCH_KEY"])
    assert code == 2 and "RLWHF_NO_SUCH_KEY" in capsys.readouterr().err


def test_search_passages_reach_the_teacher_prompt(flaky_server, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "p-7", "text": "Q0 asks about the number 1 plus 1, which is 2."}) + "\n"
                      + json.dumps({"id": "p-8", "text": "Spiders have eight legs."}) + "\n")
    answers = write_answers(tmp_path / "a.jsonl", 1)
    assert main(cli_args(flaky_server, tmp_path / "out", answers, tmp_path / "c.sqlite",
                         search_corpus=corpus, search_top_k=1)) == 0
    row = json.loads((tmp_path / "out" / "answers.jsonl").read_text())
    assert [p["id"] for p in row["context"]] == ["p-7"]
    assert "[1] Q0 asks about the number 1" in flaky_server.bodies[0]["messages"][1]["content"]


def test_request_extra_is_merged_into_the_body(flaky_server, tmp_path):
    answers = write_answers(tmp_path / "a.jsonl", 1)
    extra = '{"search_parameters": {"mode": "auto"}}'
    assert main(cli_args(flaky_server, tmp_path / "out", answers, tmp_path / "c.sqlite", request_extra=extra)) == 0
    assert flaky_server.bodies[0]["search_parameters"] == {"mode": "auto"}
    assert flaky_server.bodies[0]["model"] == "flaky-grader" and flaky_server.bodies[0]["temperature"] == 0


def test_parse_retry_after_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert parse_retry_after(" 3 ") == 3.0
