"""The loopback OpenAI-compatible teacher every test (and benchmarks/teacher_reward.py) grades against.

    with LoopbackTeacher() as teacher:          # teacher.url = http://127.0.0.1:PORT/v1
        ...

It reads the rubric prompt the online teacher sends (question, answerable, reference, or several as
"any of: A | B" with a "Known incorrect answers" line, student answer) and, by default, grades it as the
offline teacher would (`rlwhf.reward.judge`): the online path end to end with real grades, no network.
Replies are the rubric's JSON object with `usage` tokens (100 in, 20 out).

Options, each a behaviour some test needs:
- `grader(asked) -> {"grade", "verdict", "feedback"}`: `rubric_grade` (default) or `grade_by_index`
  (the grade follows the row number in a "Q<i>: ..." question: a pattern tests can predict);
- `script(asked, k) -> step`: what the server does on the k-th request about one (question, answer):
  "good", "429" (no Retry-After), "429_retry_after" (Retry-After: `retry_after`), "429_ms"
  (retry-after-ms: 10), "500" / "502" / "503", "401", "400_response_format", "hang" (answers after
  `hang_s`), "malformed" (prose, no JSON object), "bad_json" (a cut-off object), "bad_body" (a cut-off
  response body), "inconsistent" (a grade and verdict that disagree), "chatty" (the object inside
  prose, `rationale` for feedback), "drop" (the connection closes without a response); `FLAKY` is the
  ten-row pattern of the evaluate tests;
- `latency_s` (added to every answer), `down` (every request 503; settable while running),
  `reject_response_format` (400 for a request with `response_format`, like servers without it).

What it saw: `requests`, `inflight` / `max_inflight` (a request stops counting just before its last
write: a client that has its answer may send the next request before the handler's `finally` runs),
`attempts` and `asked` per (question, answer), `bodies`, `auth_headers`, `seen` (the answer key of
each request). `LoopbackServer` / `LoopbackHandler` (start, stop, in-flight counting, JSON replies) also
carry the tests' other loopback servers: the served student (tests/evaluate/test_evaluate_student.py) and
the xAI Responses API (tests/teacher/test_teacher_web_search.py). Runs standalone for a manual launch or a
benchmark in its own process:

    python tests/_loopback_teacher.py --port 8765 --latency 0.15
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIELDS = re.compile(r"Question: (?P<q>.*?)\nAnswerable: (?P<a>\w+)\nReference answer: (?P<r>.*?)\n"
                    r"Reference passages:\n.*?\n\nStudent answer: (?P<s>.*?)\n\nGrade the student answer", re.S)
ROW_INDEX = re.compile(r"^Q(\d+):")


@dataclass
class Asked:
    """What one request asks the teacher to grade, read back from the rubric prompt."""

    question: str = ""
    answer: str = ""
    answerable: bool | None = None
    references: list[str] = field(default_factory=list)
    incorrect_answers: list[str] = field(default_factory=list)
    found: bool = False  # the rubric's fields were in the request

    @property
    def index(self) -> int | None:
        """i of a "Q<i>: ..." question (the evaluate tests' rows), else None."""
        m = ROW_INDEX.match(self.question)
        return int(m.group(1)) if m else None


def parse_request(body: dict) -> Asked:
    user = next((m["content"] for m in body.get("messages", []) if m.get("role") == "user"), "")
    m = FIELDS.search(user)
    if m is None:
        return Asked()
    lines = m["r"].split("\n")
    refs = [] if lines[0] == "(none)" else [lines[0]]
    if lines[0].startswith("any of: "):
        refs = lines[0][len("any of: "):].split(" | ")
    wrong = next((line.split(": ", 1)[1].split(" | ") for line in lines[1:]
                  if line.startswith("Known incorrect answers")), [])
    return Asked(m["q"], m["s"], {"true": True, "false": False}.get(m["a"]), refs, wrong, found=True)


def rubric_grade(asked: Asked) -> dict:
    """The offline teacher's grade of the request (every reference, the known wrong answers)."""
    from rlwhf.evaluate.teachers import OfflineTeacher
    from rlwhf.reward import judge
    from rlwhf.teacher.base import GradeRequest

    if not asked.found:
        return {"grade": -2, "verdict": "incorrect", "feedback": "no answer found in the request"}
    refs = asked.references
    req = GradeRequest(asked.question, asked.answer, refs[0] if refs else None, asked.answerable,
                       references=refs, incorrect_answers=asked.incorrect_answers)
    res = OfflineTeacher._grade_one(judge, req)
    return {"grade": res.grade, "verdict": res.verdict, "feedback": res.feedback}


GRADES = [2, 1, 0, -1, -2]


def expected_grade(i: int) -> int:
    """The grade `grade_by_index` gives row i."""
    return GRADES[i % 5]


def grade_by_index(asked: Asked) -> dict:
    from rlwhf.data.schema import GRADE_VERDICT

    g = expected_grade(asked.index)
    return {"grade": g, "verdict": GRADE_VERDICT[g], "feedback": f"row {asked.index}"}


# What the server does on the k-th request about row i, by i % 10 (past the list's end: a good answer).
FLAKY_STEPS = {
    0: ["good"], 1: ["good"], 2: ["good"],
    3: ["429_retry_after", "good"],
    4: ["500", "502", "good"],
    5: ["hang", "good"],
    6: ["bad_body", "good"],
    7: ["malformed", "good"],  # re-asked once with a reminder, then fine
    8: ["malformed", "malformed"],  # still unusable after the reminder: an error row
    9: ["429", "inconsistent", "good"],
}


def by_attempt(steps_of):
    """A script from `steps_of(asked) -> [step for attempt 0, 1, ...]`; past the list's end: "good"."""
    def script(asked: Asked, k: int) -> str:
        steps = steps_of(asked)
        return steps[k] if k < len(steps) else "good"

    return script


FLAKY = by_attempt(lambda asked: FLAKY_STEPS[asked.index % 10])


def reply_body(content: str, prompt_tokens: int = 100, completion_tokens: int = 20) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion", "model": "teacher",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                 "total_tokens": prompt_tokens + completion_tokens}}).encode()


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) drops connections when many workers connect at once (a whole GRPO
    # step does); the kernel's SYN retry then takes 1 s, past a client's timeout, adding retries no
    # script asked for.
    request_queue_size = 256
    daemon_threads = True


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 for a test (`with Server() as s: s.url` = http://127.0.0.1:PORT/v1)
    that counts the requests in flight (`inflight`, `max_inflight`). Subclasses serve a `LoopbackHandler`."""

    def __init__(self, handler: type, port: int = 0):
        self.lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class LoopbackHandler(BaseHTTPRequestHandler):
    """Quiet, keep-alive (as real servers answer); `count()` marks the request in flight on the owning
    `LoopbackServer` and `send()` stops counting it just before its last write: a client that has its
    answer may send its next request before this handler's `finally` runs."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    @property
    def owner(self):
        return self.server.owner

    def count(self) -> None:
        owner = self.owner
        with owner.lock:
            owner.inflight += 1
            self._counted = True
            owner.max_inflight = max(owner.max_inflight, owner.inflight)

    def _finish(self) -> None:
        """No longer in flight (once)."""
        owner = self.owner
        with owner.lock:
            if getattr(self, "_counted", False):
                self._counted = False
                owner.inflight -= 1

    def send(self, code: int, payload, headers=(), ctype: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self._finish()
        self.wfile.write(data)


class LoopbackTeacher(LoopbackServer):
    def __init__(self, grader=rubric_grade, script=None, latency_s: float = 0.0, hang_s: float = 5.0,
                 retry_after: str = "2", down: bool = False, reject_response_format: bool = False, port: int = 0):
        self.grader = grader
        self.script = script or (lambda asked, k: "good")
        self.latency_s = latency_s
        self.hang_s = hang_s
        self.retry_after = retry_after
        self.down = down
        self.reject_response_format = reject_response_format
        self.requests = 0
        self.attempts: Counter = Counter()  # (question, answer) -> requests about it so far
        self.asked = self.attempts  # the same counts, by the name the launch tests read
        self.bodies: list[dict] = []
        self.auth_headers: set[str] = set()
        self.seen: list[dict] = []  # the answer key each request carried
        server = self

        class Handler(LoopbackHandler):
            def do_GET(self):  # /v1/models, like a real server
                self.send(200, json.dumps({"object": "list", "data": [{"id": "teacher"}]}).encode())

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                asked = parse_request(body)
                key = (asked.question, asked.answer)
                self.count()
                with server.lock:
                    server.requests += 1
                    k = server.attempts[key]
                    server.attempts[key] = k + 1
                    server.bodies.append(body)
                    server.auth_headers.add(self.headers.get("Authorization", ""))
                    if asked.found:
                        server.seen.append({"references": asked.references,
                                            "incorrect_answers": asked.incorrect_answers})
                try:
                    if server.latency_s:
                        time.sleep(server.latency_s)
                    if server.down:
                        step = "503"
                    elif server.reject_response_format and "response_format" in body:
                        step = "400_response_format"
                    else:
                        step = server.script(asked, k)
                    self.act(step, asked)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a hung request
                finally:
                    self._finish()

            def act(self, step: str, asked: Asked):
                if step == "good":
                    self.send(200, reply_body(json.dumps(server.grader(asked))))
                elif step == "chatty":
                    obj = server.grader(asked)
                    obj["rationale"] = obj.pop("feedback")
                    self.send(200, reply_body("Here is my grade: " + json.dumps(obj) + " Thanks!"))
                elif step == "429":
                    self.send(429, b'{"error": "slow down"}')
                elif step == "429_retry_after":
                    self.send(429, b'{"error": "slow down"}', [("Retry-After", server.retry_after)])
                elif step == "429_ms":
                    self.send(429, b'{"error": "slow down"}', [("retry-after-ms", "10")])
                elif step in ("500", "502", "503"):
                    self.send(int(step), b'{"error": "upstream"}')
                elif step == "401":
                    self.send(401, b'{"error": "bad key"}')
                elif step == "400_response_format":
                    self.send(400, b'{"error": {"message": "response_format json_schema is not supported"}}')
                elif step == "hang":
                    time.sleep(server.hang_s)
                    self.send(200, reply_body(json.dumps(server.grader(asked))))
                elif step == "malformed":
                    self.send(200, reply_body("I would say this is a fine answer, maybe a 2?"))
                elif step == "bad_json":
                    self.send(200, reply_body('{"grade": 2, "verdict": "correct", "feedback": '))
                elif step == "bad_body":
                    self.send(200, b'{"choices": [{"message": ')
                elif step == "inconsistent":
                    self.send(200, reply_body(json.dumps({"grade": -2, "verdict": "correct", "feedback": "?"})))
                elif step == "drop":
                    self._finish()
                    self.close_connection = True
                    self.connection.shutdown(2)
                else:  # pragma: no cover - a typo in a script
                    raise AssertionError(step)

        super().__init__(Handler, port)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    ns = ap.parse_args()
    with LoopbackTeacher(latency_s=ns.latency, port=ns.port) as teacher:
        print(teacher.url, flush=True)
        try:
            teacher.thread.join()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
