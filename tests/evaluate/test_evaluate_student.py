"""Served students over a loopback OpenAI-compatible server: sampling options, n samples, the system prompt,
bounded concurrency, and bad input (404 for the model, not a chat server, unreachable, empty completions,
a refused key), each a one-line error or a counted error row, with no key in any output."""

import json
import time
from pathlib import Path

import pytest
from _loopback_teacher import LoopbackHandler, LoopbackServer

from rlwhf.cli.main import main

KEY = "sk-student-secret-4242"


class StudentServer(LoopbackServer):
    """Answers "What is A plus B?" with "The answer is A+B."; "empty" prompts get "", "fail" prompts a 500.

    `mode`: "chat" (the above), "html" (a web page for every request), "ignore_n" (one choice whatever n is).
    """

    def __init__(self, mode="chat", model="student", key=None, delay=0.0):
        self.mode, self.model, self.key, self.delay = mode, model, key, delay
        self.bodies: list[dict] = []
        server = self

        class Handler(LoopbackHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.count()
                with server.lock:
                    server.bodies.append(body)
                try:
                    server.handle(self, body)
                finally:
                    self._finish()

        super().__init__(Handler)

    def handle(self, h, body):
        if self.mode == "html":
            return h.send(200, b"<html><body>Welcome to nginx!</body></html>", ctype="text/html")
        if self.key and h.headers.get("Authorization") != f"Bearer {self.key}":
            return h.send(401, {"error": {"message": f"bad key {h.headers.get('Authorization')}"}})
        if body.get("model") != self.model:  # what vLLM answers for a name it does not serve
            return h.send(404, {"object": "error", "message": f"The model `{body.get('model')}` does not exist.",
                                 "type": "NotFoundError", "code": 404})
        question = body["messages"][-1]["content"]
        if "fail" in question:
            return h.send(500, {"error": "boom"})
        time.sleep(self.delay)
        if "empty" in question:
            text = ""
        else:
            words = question.replace("?", "").split()
            try:
                text = f"The answer is {int(words[2]) + int(words[4])}."
            except (IndexError, ValueError):
                text = "I don't know."
        n = 1 if self.mode == "ignore_n" else body.get("n", 1)
        choices = [{"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                   for i in range(n)]
        h.send(200, {"id": "x", "object": "chat.completion", "choices": choices,
                      "usage": {"prompt_tokens": 5, "completion_tokens": 4}})


def prompts_file(path, questions, answerable=True):
    rows = []
    for q in questions:
        words = q.replace("?", "").split()
        ref = str(int(words[2]) + int(words[4])) if len(words) > 4 and words[2].isdigit() else None
        rows.append({"prompt": q, "reference": ref, "answerable": answerable})
    Path(path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def served(url, *extra, model="student", prompts="p.jsonl", out="o"):
    return ["evaluate", "--student-base-url", url, "--student-model", model, "--prompts", prompts,
            "--output-dir", out, "--backoff-base", "0", "--max-retries", "1", *extra]


def test_served_student_answers_are_graded_with_sampling_options_and_system_prompt(capsys):
    qs = [f"What is {a} plus {b}?" for a in range(4) for b in range(3)]
    prompts_file("p.jsonl", qs)
    with StudentServer(delay=0.05) as srv:
        assert main(served(srv.url, "--concurrency", "3", "--temperature", "0.7", "--top-p", "0.9", "--seed", "7",
                           "--max-new-tokens", "20", "--system-prompt", "Answer in one sentence.")) == 0
    rows = read_jsonl("o/answers.jsonl")
    assert [r["answer"] for r in rows] == [f"The answer is {a + b}." for a in range(4) for b in range(3)]
    assert {r["verdict"] for r in rows} == {"correct"}
    body = srv.bodies[0]
    assert body["messages"][0] == {"role": "system", "content": "Answer in one sentence."}
    assert (body["temperature"], body["top_p"], body["seed"], body["max_tokens"]) == (0.7, 0.9, 7, 20)
    assert "n" not in body  # only what was asked for is sent
    assert 1 < srv.max_inflight <= 3  # bounded concurrency, and actually concurrent
    m = json.loads(Path("o/metrics.json").read_text())
    assert m["student"]["samples"] == 12 and m["student"]["completion_tokens"] == 48
    assert m["timings"]["generation"]["prompts"] == 12


@pytest.mark.parametrize("mode,extra_requests", [("chat", 0), ("ignore_n", 2 * 3)])
def test_n_samples_per_prompt_one_row_each(mode, extra_requests):
    prompts_file("p.jsonl", ["What is 1 plus 1?", "What is 2 plus 2?"])
    with StudentServer(mode=mode) as srv:
        assert main(served(srv.url, "--n-samples", "4", "--temperature", "1.0")) == 0
    rows = read_jsonl("o/answers.jsonl")
    assert len(rows) == 8 and [r["sample"] for r in rows] == [0, 1, 2, 3] * 2
    assert rows[0]["id"].endswith("#0") and len({r["id"] for r in rows}) == 8
    assert srv.bodies[0]["n"] == 4
    m = json.loads(Path("o/metrics.json").read_text())
    assert m["n"] == 8 and m["student"]["extra_requests_for_n"] == extra_requests


def test_empty_and_failed_completions_are_counted_error_rows(capsys):
    prompts_file("p.jsonl", ["What is 1 plus 1?", "What is empty plus 1?", "What is fail plus 1?",
                             "What is 3 plus 3?"])
    with StudentServer() as srv:
        assert main(served(srv.url, "--honesty-logs", "logs.jsonl")) == 1
    rows = read_jsonl("o/answers.jsonl")
    assert [r["verdict"] for r in rows] == ["correct", "error", "error", "correct"]
    assert rows[1]["error"] == "student: empty completion"
    assert rows[2]["error"].startswith("student: http_500") and rows[2]["grade"] is None
    m = json.loads(Path("o/metrics.json").read_text())
    assert m["errors"] == 2 and m["n"] == 2 and m["student"]["empty"] == 1
    assert len(read_jsonl("logs.jsonl")) == 2 and m["honesty_logs"]["error_rows"] == 2
    err = capsys.readouterr().err
    assert "2 row(s) could not be graded" in err and "Traceback" not in err


def one_line_error(capsys, argv, *needles, out="o"):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if not line.startswith("[rlwhf evaluate]")]
    assert len(lines) == 1 and lines[0].startswith("rlwhf: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in err and not Path(out, "answers.jsonl").exists()
    return lines[0]


def test_bad_servers_stop_with_one_line(capsys, monkeypatch):
    prompts_file("p.jsonl", ["What is 1 plus 1?", "What is 2 plus 2?"])
    with StudentServer() as srv:
        one_line_error(capsys, served(srv.url, model="gpt-9"), "HTTP 404", "does not serve model 'gpt-9'")
        assert len(srv.bodies) == 1  # the first prompt checked the server; no other row was sent
    with StudentServer(mode="html") as srv:
        one_line_error(capsys, served(srv.url), "not an OpenAI-compatible chat server")
        assert len(srv.bodies) == 1  # not retried: a web page will not turn into a chat server
    with StudentServer() as srv:
        dead = srv.url
    one_line_error(capsys, served(dead), "cannot reach the student server")
    one_line_error(capsys, served("https://student.example.invalid/v1", "--student-api-key-env", "NO_SUCH_VAR"),
                   "student API key is not set", "NO_SUCH_VAR")


def test_the_key_goes_only_into_the_header(capsys, monkeypatch):
    monkeypatch.setenv("STUDENT_KEY", KEY)
    prompts_file("p.jsonl", ["What is 1 plus 1?"])
    with StudentServer(key=KEY) as srv:
        assert main(served(srv.url, "--student-api-key-env", "STUDENT_KEY", "--honesty-logs", "logs.jsonl")) == 0
    with StudentServer(key="another-key") as srv:  # refused, and the server echoes what it got
        msg = one_line_error(capsys, served(srv.url, "--student-api-key-env", "STUDENT_KEY", out="o2"), "HTTP 401",
                             out="o2")
    assert KEY not in msg
    out = capsys.readouterr()
    for text in [out.out, out.err] + [p.read_text() for p in Path(".").rglob("*") if p.is_file()]:
        assert KEY not in text


def test_usage_errors_for_student_flags(capsys):
    prompts_file("p.jsonl", ["What is 1 plus 1?"])
    for argv, needle in [
        (["--student-base-url", "http://127.0.0.1:9/v1", "--prompts", "p.jsonl", "--output-dir", "o"],
         "--student-base-url needs --student-model"),
        (["--student-base-url", "http://127.0.0.1:9/v1", "--student-model", "s", "--model", "m", "--prompts",
          "p.jsonl", "--output-dir", "o"], "one student"),
        (["--model", "m", "--prompts", "p.jsonl", "--output-dir", "o", "--n-samples", "2"],
         "local generation (--model) is greedy"),
        (["--student-base-url", "http://127.0.0.1:9/v1", "--student-model", "s", "--prompts", "p.jsonl",
          "--output-dir", "o", "--n-samples", "0"], "--n-samples must be at least 1"),
    ]:
        assert main(["evaluate", *argv]) == 2
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, (argv, err)
