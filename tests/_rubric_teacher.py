"""A loopback OpenAI-compatible teacher that grades by the rubric judge's logic, with latency and faults.

Used by the teacher-reward tests, the GRPO end-to-end test and benchmarks/teacher_reward.py; also runs
standalone for a manual launch:

    python tests/_rubric_teacher.py --port 8765 --latency 0.15

Each request is parsed back from the rubric prompt (question, answerable, reference, student answer) and
graded with `rlwhf.reward.judge`; the reply is the rubric's JSON object with `usage` tokens. `script(answer,
k)` names what the server does on the k-th request about one answer (faults: see `RubricTeacher.act`).
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIELDS = re.compile(r"Question: (?P<q>.*?)\nAnswerable: (?P<a>\w+)\nReference answer: (?P<r>.*?)\n"
                    r"Reference passages:\n.*?\n\nStudent answer: (?P<s>.*?)\n\nGrade the student answer", re.S)


def reply_body(content: str, prompt_tokens: int = 100, completion_tokens: int = 20) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion", "model": "teacher",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                 "total_tokens": prompt_tokens + completion_tokens}}).encode()


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # a whole GRPO step connects at once
    daemon_threads = True


class RubricTeacher:
    """`with RubricTeacher(latency_s=0.15) as t: t.url` -> http://127.0.0.1:PORT/v1."""

    def __init__(self, latency_s: float = 0.0, script=None, hang_s: float = 5.0, port: int = 0,
                 reject_response_format: bool = False, down: bool = False):
        self.latency_s = latency_s
        self.script = script or (lambda answer, k: "good")
        self.hang_s = hang_s
        self.reject_response_format = reject_response_format
        self.down = down  # every request answers 503: a teacher that is down
        self.lock = threading.Lock()
        self.requests = 0
        self.inflight = 0
        self.max_inflight = 0
        self.attempts: dict[str, int] = {}
        self.asked: Counter = Counter()  # (question, answer) -> requests about it
        self.bodies: list[dict] = []
        self.auth_headers: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # /v1/models, like a real server
                self.send(200, json.dumps({"object": "list", "data": [{"id": "teacher"}]}).encode())

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                user = next(m["content"] for m in body["messages"] if m["role"] == "user")
                fields = FIELDS.search(user)
                answer = fields.group("s") if fields else ""
                with server.lock:
                    server.requests += 1
                    server.inflight += 1
                    self._counted = True
                    server.max_inflight = max(server.max_inflight, server.inflight)
                    k = server.attempts.get(answer, 0)
                    server.attempts[answer] = k + 1
                    server.asked[(fields.group("q") if fields else "", answer)] += 1
                    server.bodies.append(body)
                    server.auth_headers.add(self.headers.get("Authorization", ""))
                try:
                    if server.latency_s:
                        time.sleep(server.latency_s)
                    if server.down:
                        step = "503"
                    elif server.reject_response_format and "response_format" in body:
                        step = "400_response_format"
                    elif len(body["messages"]) > 2:  # a re-ask after a reminder: answer it
                        step = server.script(answer, k) if server.script(answer, k) in ("malformed",) else "good"
                    else:
                        step = server.script(answer, k)
                    self.act(step, fields)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    self._finish()

            def _finish(self):
                """No longer in flight (once). Called just before the last write too: a client that has its
                answer may send its next request before this handler's `finally` runs."""
                with server.lock:
                    if getattr(self, "_counted", False):
                        self._counted = False
                        server.inflight -= 1

            def send(self, code, payload: bytes, headers=()):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self._finish()
                self.wfile.write(payload)

            def act(self, step, fields):
                if step == "good":
                    self.send(200, reply_body(json.dumps(grade(fields))))
                elif step == "chatty":  # the object inside prose, `rationale` for feedback
                    obj = grade(fields)
                    obj["rationale"] = obj.pop("feedback")
                    self.send(200, reply_body("Here is my grade: " + json.dumps(obj) + " Thanks!"))
                elif step == "429":
                    self.send(429, b'{"error": "slow down"}', [("Retry-After", "0")])
                elif step == "429_ms":
                    self.send(429, b'{"error": "slow down"}', [("retry-after-ms", "10")])
                elif step in ("500", "503"):
                    self.send(int(step), b'{"error": "upstream"}')
                elif step == "401":
                    self.send(401, b'{"error": "bad key"}')
                elif step == "400_response_format":
                    self.send(400, b'{"error": {"message": "response_format json_schema is not supported"}}')
                elif step == "hang":
                    time.sleep(server.hang_s)
                    self.send(200, reply_body(json.dumps(grade(fields))))
                elif step == "malformed":
                    self.send(200, reply_body("I would say this is a fine answer, maybe a 2?"))
                elif step == "bad_json":
                    self.send(200, reply_body('{"grade": 2, "verdict": "correct", "feedback": '))
                elif step == "drop":  # the connection closes without a response
                    self.close_connection = True
                    self.connection.shutdown(2)
                else:  # pragma: no cover - a typo in a script
                    raise AssertionError(step)

        self.httpd = _Server(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def grade(fields) -> dict:
    """The rubric judge's grade of the request's answer, as the teacher's JSON object."""
    from rlwhf.reward import judge

    if fields is None:
        return {"grade": -2, "verdict": "incorrect", "feedback": "no answer found in the request"}
    answerable = {"true": True, "false": False}.get(fields.group("a"))
    reference = None if fields.group("r") == "(none)" else fields.group("r")
    j = judge(fields.group("q"), fields.group("s"), reference, answerable)
    verdict = j.verdict
    if answerable is False and j.grade > 0:
        verdict = "abstained"
    return {"grade": j.grade, "verdict": verdict, "feedback": j.feedback}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    ns = ap.parse_args()
    with RubricTeacher(latency_s=ns.latency, port=ns.port) as teacher:
        print(teacher.url, flush=True)
        try:
            teacher.thread.join()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
