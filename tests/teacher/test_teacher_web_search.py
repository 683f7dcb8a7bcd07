"""Web search that exists: the Responses API with the server-side web_search tool (xAI, OpenAI), and a clear,
non-retried error for a retired feature (xAI Live Search, `search_parameters`: HTTP 410).

The loopback server emulates today's shapes (read from docs.x.ai "Web Search" and OpenAI's Responses API):
POST /v1/responses {"model", "input": [messages], "tools": [{"type": "web_search"}]} ->
{"object": "response", "output": [{"type": "web_search_call", ...}, {"type": "message", "content":
[{"type": "output_text", "text": ..., "annotations": [{"type": "url_citation", "url": ...}]}]}],
"citations": [...], "usage": {"input_tokens", "output_tokens"}}; chat completions carrying
`search_parameters` -> 410 with xAI's message."""

from __future__ import annotations

import json

import pytest
from _loopback_teacher import LoopbackHandler, LoopbackServer

from rlwhf.teacher.base import GradeRequest
from rlwhf.teacher.client import ChatClient, OnlineTeacher, TransportError
from rlwhf.teacher.web_search import ResponsesClient, WebSearchTeacher, citations, responses_url

LIVE_SEARCH_GONE = {"code": "Some requested entity was not found",
                    "error": "Live search is deprecated. Please switch to the Agent Tools API"}


class XaiLike(LoopbackServer):
    """Loopback stand-in for api.x.ai/v1 today: /responses with web_search, /chat/completions without
    Live Search. `responses=False` emulates a server without the Responses API (vLLM, Ollama): 404."""

    def __init__(self, responses: bool = True):
        self.bodies: list[tuple[str, dict]] = []
        server = self

        class Handler(LoopbackHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.bodies.append((self.path, body))
                if self.path == "/v1/responses" and responses:
                    self.send(200, server.response(body))
                elif self.path == "/v1/chat/completions" and "search_parameters" in body:
                    self.send(410, LIVE_SEARCH_GONE)
                elif self.path == "/v1/chat/completions":
                    content = json.dumps({"grade": 2, "verdict": "correct", "feedback": "no search used"})
                    self.send(200, {"object": "chat.completion", "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}}]})
                else:
                    self.send(404, {"error": f"no route {self.path}"})

        super().__init__(Handler)

    @staticmethod
    def response(body: dict) -> dict:
        """What the Responses API returns after one web search: the grade depends on what was searched."""
        assert {"type": "web_search"} in body["tools"] and isinstance(body["input"], list)
        question = body["input"][-1]["content"]
        grade = 2 if "capital of France" in question else -2
        verdict = "correct" if grade > 0 else "incorrect"
        text = json.dumps({"grade": grade, "verdict": verdict, "feedback": "checked against the web"})
        return {
            "id": "resp_1", "object": "response", "status": "completed", "model": body["model"],
            "output": [
                {"type": "web_search_call", "id": "ws_1", "status": "completed",
                 "action": {"type": "search", "query": "capital of France"}},
                {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                 "content": [{"type": "output_text", "text": text, "annotations": [
                     {"type": "url_citation", "url": "https://en.wikipedia.org/wiki/Paris", "title": "Paris",
                      "start_index": 0, "end_index": 5}]}]},
            ],
            "citations": ["https://en.wikipedia.org/wiki/France"],
            "usage": {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150},
        }


def test_responses_client_sends_the_web_search_tool_and_reads_the_answer():
    with XaiLike() as server:
        client = ResponsesClient(server.url, "grok-4", max_retries=0)
        reply = client.complete([{"role": "user", "content": "What is the capital of France?"}], temperature=0)
    path, body = server.bodies[0]
    assert path == "/v1/responses" and body["tools"] == [{"type": "web_search"}] and body["temperature"] == 0
    assert body["model"] == "grok-4" and "messages" not in body and "search_parameters" not in body
    assert json.loads(reply.content)["grade"] == 2
    assert (reply.prompt_tokens, reply.completion_tokens) == (120, 30)
    assert citations(reply.body) == ["https://en.wikipedia.org/wiki/France", "https://en.wikipedia.org/wiki/Paris"]
    assert responses_url("https://api.x.ai/v1/") == "https://api.x.ai/v1/responses"


def test_web_search_teacher_grades_through_responses(tmp_path):
    with XaiLike() as server:
        teacher = WebSearchTeacher(server.url, "grok-4", cache_path=str(tmp_path / "c.sqlite"), max_retries=0)
        plain = OnlineTeacher(server.url, "grok-4", cache_path=str(tmp_path / "c.sqlite"), max_retries=0)
        reqs = [GradeRequest(prompt="What is the capital of France?", answer="Paris."),
                GradeRequest(prompt="Who won the 2031 Tour de France?", answer="Pogacar.")]
        try:
            graded = teacher.grade_many(reqs)
            again = teacher.grade_many(reqs)  # cached: no new request
            without = plain.grade_many(reqs[:1])  # grades made without search are cached apart
        finally:
            teacher.close()
            plain.close()
    assert [r.grade for r in graded] == [2, -2] and all(r.status == "graded" for r in graded)
    assert all(r.cached for r in again)
    assert without[0].feedback == "no search used"
    assert [p for p, _ in server.bodies] == ["/v1/responses"] * 2 + ["/v1/chat/completions"]
    assert teacher.describe()["prompt_tokens"] == 240


def test_live_search_410_is_one_clear_error_not_a_retry_loop(tmp_path, recorded_sleeps):
    with XaiLike() as server:
        client = ChatClient(server.url, "grok-4", max_retries=5)
        with pytest.raises(TransportError) as err:
            client.complete([{"role": "user", "content": "hi"}], search_parameters={"mode": "auto"})
        msg = str(err.value)
        assert "HTTP 410" in msg and "Live Search (`search_parameters`) is retired" in msg
        assert "web_search tool on the Responses API" in msg and "search_corpus" in msg
        assert "Live search is deprecated" in msg  # the server's own words are kept
        assert err.value.retryable is False and recorded_sleeps == []
        # a whole evaluation's worth of rows: only the requests already in flight (at most `concurrency`)
        # reach the endpoint; once one 410 is back, no row sends another
        teacher = OnlineTeacher(server.url, "grok-4", cache_path=str(tmp_path / "c.sqlite"), max_retries=5,
                                request_extra={"search_parameters": {"mode": "auto"}})
        try:
            results = teacher.grade_many([GradeRequest(prompt=f"Q{i}?", answer="A.") for i in range(20)])
        finally:
            teacher.close()
    assert 2 <= len(server.bodies) <= 1 + teacher.concurrency and recorded_sleeps == []
    assert all(r.status == "error" and "Live Search (`search_parameters`) is retired" in r.error for r in results)


def test_a_server_without_the_responses_api_says_to_use_a_passage_index(tmp_path, recorded_sleeps):
    with XaiLike(responses=False) as server:
        teacher = WebSearchTeacher(server.url, "local-model", cache_path=str(tmp_path / "c.sqlite"))
        try:
            results = teacher.grade_many([GradeRequest(prompt=f"Q{i}?", answer="A.") for i in range(5)])
        finally:
            teacher.close()
    assert 1 <= len(server.bodies) <= teacher.concurrency and recorded_sleeps == []
    assert all(r.status == "error" for r in results)
    assert "HTTP 404" in results[0].error and "no Responses API" in results[0].error
    assert "search_corpus" in results[0].error


def test_use_internet_through_the_evaluator_end_to_end(tmp_path):
    """`use_internet=true` with an online teacher: every grade goes through /v1/responses with web_search."""
    from rlwhf.integrations.tlab_evaluator import main

    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"prompt": "What is the capital of France?", "answer": "Paris.",
                                   "reference": "Paris", "answerable": True}) + "\n")
    with XaiLike() as server:
        rc = main(["--answers", str(answers), "--output_dir", str(tmp_path / "o"), "--teacher", "openai",
                   "--base_url", server.url, "--use_internet", "true", "--cache", str(tmp_path / "c.sqlite")])
    assert rc == 0
    assert [p for p, _ in server.bodies] == ["/v1/responses"]
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["accuracy"] == 1.0 and metrics["teacher"]["name"] == "openai+web_search"
