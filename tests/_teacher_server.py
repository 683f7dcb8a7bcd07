"""A misbehaving OpenAI-compatible teacher on loopback (shared by the evaluate tests)."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GRADES = [2, 1, 0, -1, -2]
VERDICT = {2: "correct", 1: "correct", 0: "abstained", -1: "incorrect", -2: "incorrect"}
# What the server does on the k-th request about row i, by i % 10 (past the list's end: a good answer).
SCRIPTS = {
    0: ["good"], 1: ["good"], 2: ["good"],
    3: ["429_retry_after", "good"],
    4: ["500", "502", "good"],
    5: ["hang", "good"],
    6: ["bad_body", "good"],
    7: ["bad_content", "good"],  # re-asked once with a reminder, then fine
    8: ["bad_content", "bad_content"],  # still unusable after the reminder: an error row
    9: ["429", "inconsistent", "good"],
}
QUESTION = re.compile(r"Question: Q(\d+):")


def expected_grade(i: int) -> int:
    return GRADES[i % 5]


def completion(content: str) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop"}]}).encode()


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) drops connections when 8 workers connect at once; the kernel's
    # SYN retry then takes 1 s, past the client's timeout, and would add retries the pattern did not ask for.
    request_queue_size = 128
    daemon_threads = True


@dataclass
class ServerState:
    requests: int = 0
    inflight: int = 0
    max_inflight: int = 0


class FlakyServer:
    def __init__(self, hang_s: float = 1.0, script=None):
        self.hang_s = hang_s
        self.script = script or (lambda i: SCRIPTS[i % 10])
        self.state = ServerState()
        self.attempts: dict[int, int] = {}
        self.auth_headers: set[str] = set()
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                user = body["messages"][1]["content"]
                i = int(QUESTION.search(user).group(1))
                with server.lock:
                    server.state.requests += 1
                    server.state.inflight += 1
                    self._counted = True
                    server.state.max_inflight = max(server.state.max_inflight, server.state.inflight)
                    k = server.attempts.get(i, 0)
                    server.attempts[i] = k + 1
                    server.auth_headers.add(self.headers.get("Authorization", ""))
                    server.bodies.append(body)
                try:
                    steps = server.script(i)
                    self.act(steps[k] if k < len(steps) else "good", i)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a hung request
                finally:
                    self._finish()

            def _finish(self):
                """No longer in flight (once). Called just before the last write too: a client that has its
                answer may send its next request before this handler's `finally` runs."""
                with server.lock:
                    if getattr(self, "_counted", False):
                        self._counted = False
                        server.state.inflight -= 1

            def send(self, code, payload: bytes, headers=()):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self._finish()
                self.wfile.write(payload)

            def act(self, step, i):
                g = expected_grade(i)
                good = json.dumps({"grade": g, "verdict": VERDICT[g], "feedback": f"row {i}"})
                if step == "good":
                    self.send(200, completion(good))
                elif step == "429_retry_after":
                    self.send(429, b'{"error": "slow down"}', [("Retry-After", "2")])
                elif step == "429":
                    self.send(429, b'{"error": "slow down"}')
                elif step in ("500", "502", "503"):
                    self.send(int(step), b'{"error": "upstream"}')
                elif step == "401":
                    self.send(401, b'{"error": "bad key"}')
                elif step == "slow":  # answers, but takes a while: requests overlap
                    time.sleep(0.2)
                    self.send(200, completion(good))
                elif step == "hang":
                    time.sleep(server.hang_s)
                    self.send(200, completion(good))
                elif step == "bad_body":
                    self.send(200, b'{"choices": [{"message": ')
                elif step == "bad_content":
                    self.send(200, completion("Sure! I think this deserves a 2."))
                elif step == "inconsistent":
                    self.send(200, completion(json.dumps({"grade": -2, "verdict": "correct", "feedback": "?"})))
                else:  # pragma: no cover - a typo in a script
                    raise AssertionError(step)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


