"""Served students: answers from any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp, `swift deploy`,
hosted APIs) through the same `ChatClient` the teacher uses (bounded retries, back-off, key scrubbing).

The messages are the ones local generation renders through the chat template (`generate.chat_messages`):
an optional system turn, then the prompt as one user turn. So a server that applies the checkpoint's own
template answers greedy prompts exactly as `--model DIR` does.

Setup checks the server with the first prompt: a 404 for the model name, a URL that is not a chat server,
a refused key or an unreachable host stop the run with one line (exit 2) before any other row is sent.
After that a failing row is an error row (verdict "error", counted, exit 1); an empty completion is one too.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from rlwhf.errors import RlwhfError
from rlwhf.evaluate.generate import chat_messages
from rlwhf.progress import Tracker
from rlwhf.teacher.client import ChatClient, TransportError


@dataclass
class Sample:
    """One answer to one prompt, or why there is none."""

    answer: str | None
    error: str | None = None


class ServedStudent:
    """Answers prompts through `POST {base_url}/chat/completions` with at most `concurrency` in flight.

    The request settings have no defaults here: EvaluateConfig holds them (`from_config`)."""

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, *, concurrency: int,
                 timeout: float, max_retries: int, backoff_base: float, backoff_max: float,
                 temperature: float, max_tokens: int, n: int, seed: int | None = None,
                 system_prompt: str | None = None, top_p: float | None = None):
        self.client = ChatClient(base_url, model, api_key_env, concurrency=concurrency, timeout=timeout,
                                 max_retries=max_retries, backoff_base=backoff_base, backoff_max=backoff_max,
                                 seed=seed, what="student")
        self.model = model
        self.concurrency = concurrency
        self.n = n
        self.system_prompt = system_prompt
        # Only what was asked for goes into the body: a server may reject a parameter it does not know.
        params = {"temperature": temperature, "max_tokens": max_tokens, "top_p": top_p, "seed": seed}
        self.params = {k: v for k, v in params.items() if v is not None}
        self.stats = {"prompts": 0, "samples": 0, "errors": 0, "empty": 0, "extra_requests_for_n": 0}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg) -> "ServedStudent":
        key_env = cfg.student_api_key_env or (cfg.api_key_env if cfg.teacher == "offline" else None)
        return cls(cfg.student_base_url, cfg.student_model, key_env, concurrency=cfg.concurrency,
                   timeout=cfg.timeout, max_retries=cfg.max_retries, backoff_base=cfg.backoff_base,
                   backoff_max=cfg.backoff_max, temperature=cfg.temperature, max_tokens=cfg.max_new_tokens,
                   n=cfg.n_samples, seed=cfg.seed, system_prompt=cfg.system_prompt, top_p=cfg.top_p)

    # -- one prompt -----------------------------------------------------------------------------------
    def _ask(self, prompt: str) -> list[Sample]:
        """`n` samples of one prompt: one request with `n` (when > 1), topped up one by one if the server
        returns fewer choices (llama.cpp and others ignore `n`). Raises TransportError."""
        messages = chat_messages(prompt, self.system_prompt)
        params = dict(self.params, n=self.n) if self.n > 1 else self.params
        reply = self.client.complete(messages, **params)
        texts = [_content(c) for c in reply.body.get("choices", [])][:self.n]
        while len(texts) < self.n:
            with self._lock:
                self.stats["extra_requests_for_n"] += 1
            texts.append(_content(self.client.complete(messages, **self.params).body["choices"][0]))
        return [Sample(t.strip()) if t and t.strip() else Sample(None, "student: empty completion") for t in texts]

    def _safe_ask(self, prompt: str) -> list[Sample]:
        try:
            return self._ask(prompt)
        except TransportError as exc:
            msg = self.client.scrub(f"student: {exc.reason}: {exc} (after {getattr(exc, 'attempts', 1)} request(s))")
            return [Sample(None, msg)] * self.n

    def check(self, prompt: str) -> list[Sample]:
        """The first prompt, asked alone: a server that cannot answer at all stops the run here (exit 2)."""
        self.client.retry_bad_response = False  # a URL that is not a chat server will not become one
        try:
            return self._ask(prompt)
        except TransportError as exc:
            raise RlwhfError(self._explain(exc)) from None
        finally:
            self.client.retry_bad_response = True

    def _explain(self, exc: TransportError) -> str:
        url, detail = self.client.url, self.client.scrub(str(exc))
        if exc.reason == "http_404" or (exc.reason == "http_400" and self.model in detail):
            # vLLM and OpenAI answer 404 for a model they do not serve; ms-swift's deploy answers 400
            code = exc.reason.split("_")[1]
            return (f"{url}: HTTP {code}: the server does not serve model {self.model!r} (--student-model), or the URL "
                    f"is not an OpenAI-compatible .../v1 endpoint ({_one_line(detail)})")
        if exc.reason in ("http_401", "http_403"):
            return (f"{url}: {exc.reason.replace('_', ' ').upper()}: the server refused the request; set the key "
                    f"with --student-api-key-env VAR ({_one_line(detail)})")
        if exc.reason == "bad_response":
            return f"{url}: not an OpenAI-compatible chat server ({_one_line(detail)})"
        if exc.reason in ("connection", "timeout"):
            return f"{url}: cannot reach the student server ({_one_line(detail)})"
        return f"{url}: the student server failed on the first prompt ({_one_line(detail)})"

    # -- many prompts ---------------------------------------------------------------------------------
    def answer_many(self, prompts: list[str], stats: dict | None = None) -> list[list[Sample]]:
        """`n` samples per prompt, in order; the first prompt checks the server (see `check`)."""
        started = time.perf_counter()
        out: list[list[Sample] | None] = [None] * len(prompts)
        out[0] = self.check(prompts[0])
        # A bar on a terminal; elsewhere a log line every quarter.
        with Tracker(len(prompts), "student answered", "prompt", log=_log, marks=4, bar_desc="student") as steps:
            steps.update()
            if len(prompts) > 1:
                pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="student")
                try:
                    futures = {pool.submit(self._safe_ask, p): i for i, p in enumerate(prompts) if i > 0}
                    for fut in as_completed(futures):
                        out[futures[fut]] = fut.result()
                        steps.update()
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
        samples = [s for per in out for s in per]  # type: ignore[union-attr]
        self.stats.update(prompts=len(prompts), samples=len(samples),
                          errors=sum(s.error is not None for s in samples),
                          empty=sum(s.error == "student: empty completion" for s in samples))
        if stats is not None:
            stats.update(self.describe(), seconds=round(time.perf_counter() - started, 3))
        return out  # type: ignore[return-value]

    def describe(self) -> dict:
        c = self.client.stats
        return {"url": self.client.url, "model": self.model, "concurrency": self.concurrency, "n": self.n,
                "params": dict(self.params), "system_prompt": self.system_prompt, **self.stats,
                "requests": c["requests"], "retries": c["retries"], "prompt_tokens": c["prompt_tokens"],
                "completion_tokens": c["completion_tokens"]}


def _content(choice) -> str:
    msg = choice.get("message") if isinstance(choice, dict) else None
    content = msg.get("content") if isinstance(msg, dict) else None
    return content if isinstance(content, str) else ""


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _log(msg: str) -> None:
    logging.getLogger("rlwhf.evaluate").info(f"[rlwhf evaluate] {msg}")
