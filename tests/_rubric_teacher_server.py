"""A well-behaved OpenAI-compatible teacher on loopback that grades with the rubric judge.

It reads the rubric prompt the online teacher sends (honesty_rubric_v1's user section: question,
answerable, reference (several acceptable ones as "any of: A | B", known wrong ones on a
"Known incorrect answers" line), student answer), grades with the offline teacher (`rlwhf.reward.judge`),
and replies with the rubric's JSON: the online teacher path end to end, with real grades, and no network.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIELDS = re.compile(r"Question: (?P<q>.*?)\nAnswerable: (?P<a>\w+)\nReference answer: (?P<r>.*?)\n"
                    r"Reference passages:\n.*?\n\nStudent answer: (?P<s>.*?)\n\nGrade the student answer", re.S)


class RubricTeacherServer:
    def __init__(self):
        self.requests = 0
        self.seen: list[dict] = []  # the answer key each request carried
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                from rlwhf.evaluate.teachers import OfflineTeacher
                from rlwhf.reward import judge
                from rlwhf.teacher.base import GradeRequest

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests += 1
                m = FIELDS.search(body["messages"][-1]["content"])
                if m is None:
                    reply = "I cannot read this request."
                else:
                    answerable = {"true": True, "false": False}.get(m["a"])
                    lines = m["r"].split("\n")
                    refs = [] if lines[0] == "(none)" else [lines[0]]
                    if lines[0].startswith("any of: "):
                        refs = lines[0][len("any of: "):].split(" | ")
                    wrong = []
                    for line in lines[1:]:
                        if line.startswith("Known incorrect answers"):
                            wrong = line.split(": ", 1)[1].split(" | ")
                    server.seen.append({"references": refs, "incorrect_answers": wrong})
                    req = GradeRequest(m["q"], m["s"], refs[0] if refs else None, answerable, references=refs,
                                       incorrect_answers=wrong)
                    res = OfflineTeacher._grade_one(judge, req)
                    reply = json.dumps({"grade": res.grade, "verdict": res.verdict, "feedback": res.feedback})
                data = json.dumps({"id": "t", "object": "chat.completion", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 20}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
