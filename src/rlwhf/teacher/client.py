"""OpenAI-compatible chat-completions, stdlib only (urllib + threads): `ChatClient` and the rubric teacher.

Reliability, in order of what happens to one row:
1. the SQLite cache (teacher model, rubric version, prompt, answer, reference, passages) answers it
   if it can: a restarted run re-asks nothing it has;
2. else a worker (at most `concurrency` at once) POSTs the rubric prompt; timeouts, connection errors,
   429 and 5xx (and a 200 whose body is not a chat completion) are retried up to `max_retries` times
   after `min(backoff_max, backoff_base * 2**attempt) * (1 + U[0, 1))` seconds, or after retry-after-ms /
   Retry-After (capped at `backoff_max`) when a 429/5xx sends it;
3. a reply that is not the rubric's JSON is re-asked once with a reminder, then the row is an error;
4. other 4xx are errors at once (they will not get better by retrying).
Graded rows and unparseable replies are cached (a deterministic teacher would repeat them); transport
failures are not, so a rerun retries exactly those rows.

The API key is read from the environment variable named by `api_key_env`, only sent in the
Authorization header, and scrubbed from every error message; it is never written anywhere.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from rlwhf.errors import RlwhfError
from rlwhf.teacher.cache import TeacherCache, cache_key, default_cache_path
from rlwhf.teacher.base import GradeRequest, GradeResult, OnResult
from rlwhf.teacher.prompt import REMINDER, ReplyError, Rubric, load_rubric, parse_reply

_sleep = time.sleep  # module-level so tests can record back-off delays without waiting them out


class TransportError(Exception):
    """The endpoint could not give a usable HTTP answer; `retryable` says whether to try again."""

    def __init__(self, reason: str, message: str, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


def chat_url(base_url: str) -> str:
    """`.../v1` -> `.../v1/chat/completions` (a full endpoint URL is kept as is)."""
    base = base_url.rstrip("/")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def retry_after_from(headers) -> float | None:
    """The server's wish in seconds: `retry-after-ms` (OpenAI) first, then `Retry-After`; None if neither.

    >>> retry_after_from({"retry-after-ms": "250", "Retry-After": "3"}), retry_after_from({"Retry-After": "3"})
    (0.25, 3.0)
    """
    get = headers.get
    ms = get("retry-after-ms") or get("Retry-After-Ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    return parse_retry_after(get("Retry-After"))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable.

    >>> parse_retry_after("2"), parse_retry_after(None), parse_retry_after("soon")
    (2.0, None, None)
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class ChatReply:
    """One usable chat completion: its text, what it cost, and how long the exchange took."""

    content: str
    requests: int = 1  # HTTP requests spent on it, retries included
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0  # wall time of the whole exchange, back-off waits included
    body: dict = field(default_factory=dict)  # the parsed response (for `n` > 1 choices, tool output, ...)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ChatClient:
    """One OpenAI-compatible chat-completions endpoint: transport, retries, back-off, usage, key scrubbing.

    Used by the teacher (grading) and by student connectors (answering) alike. `complete(messages,
    **params)` returns a ChatReply or raises TransportError once retries are spent or not allowed;
    `params` go into the request body as given (nothing a server might reject is sent unless asked).
    Thread-safe: callers run it from a pool of at most `concurrency` workers.
    """

    # A 200 that is not a chat completion is retried (a proxy hiccup); a caller probing whether a URL is a
    # chat server at all turns this off to fail at once.
    retry_bad_response = True

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, concurrency: int = 4,
                 timeout: float = 60.0, max_retries: int = 5, backoff_base: float = 1.0,
                 backoff_max: float = 30.0, seed: int | None = None, what: str = "teacher"):
        self.url = chat_url(base_url)
        self.model = model
        self.api_key_env = api_key_env
        self._key = os.environ.get(api_key_env) if api_key_env else None
        if not self._key and not is_loopback(self.url):
            raise RlwhfError(f"the {what} API key is not set: export {api_key_env or 'A_VARIABLE'}=... and pass "
                             f"--api-key-env with that variable's name (a loopback server needs none)")
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0, "retries_by_reason": {}, "prompt_tokens": 0,
                      "completion_tokens": 0}
        self._gone: TransportError | None = None  # set by a 404/410 (see gone_message)

    def scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    # -- one HTTP exchange ---------------------------------------------------------------------------
    def _post(self, body: dict) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        req = urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers,
                                     method="POST")
        with self._lock:
            self.stats["requests"] += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = self.scrub(exc.read(300).decode("utf-8", "replace")) if exc.fp else ""
            retry_after = retry_after_from(exc.headers) if exc.headers else None
            if exc.code == 429:
                raise TransportError("http_429", f"HTTP 429 rate limited {detail}".strip(), True, retry_after)
            if exc.code >= 500:
                raise TransportError(f"http_{exc.code}", f"HTTP {exc.code} {detail}".strip(), True, retry_after)
            if exc.code in (404, 410):  # a retired feature or a missing endpoint: asking again cannot help
                self._gone = TransportError(f"http_{exc.code}", gone_message(exc.code, self.url, body, detail), False)
                raise self._gone
            raise TransportError(f"http_{exc.code}", f"HTTP {exc.code} {detail}".strip(), False)
        except (TimeoutError, socket.timeout) as exc:
            raise TransportError("timeout", f"no answer within {self.timeout:g} s ({exc})", True)
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise TransportError("timeout", f"no answer within {self.timeout:g} s", True)
            raise TransportError("connection", self.scrub(f"connection failed: {exc.reason}"), True)
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise TransportError("connection", self.scrub(f"connection failed: {type(exc).__name__}: {exc}"), True)
        try:
            parsed = json.loads(raw)
            content = self._content_of(parsed)
            if not isinstance(content, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            # A 200 that is not a chat completion is a broken proxy or server, not the model's opinion.
            raise TransportError("bad_response", f"the response is not a {self.shape} ({exc})",
                                 self.retry_bad_response)
        return parsed

    # -- the request and response shapes (the Responses-API client in teacher/web_search.py overrides these)
    shape = "chat completion"

    def _body(self, messages: list[dict], params: dict) -> dict:
        return {"model": self.model, "messages": messages, **params}

    def _content_of(self, parsed: dict) -> str:
        return parsed["choices"][0]["message"]["content"]

    def _usage_of(self, parsed: dict) -> tuple[int, int]:
        usage = parsed.get("usage") if isinstance(parsed.get("usage"), dict) else {}
        return _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.backoff_max, retry_after)
        base = min(self.backoff_max, self.backoff_base * 2 ** attempt)
        with self._lock:
            jitter = self._rng.random()
        return min(self.backoff_max, base * (1 + jitter))

    def complete(self, messages: list[dict], **params) -> ChatReply:
        """The first usable completion of `messages`; TransportError (with `.attempts`) when there is none."""
        body = self._body(messages, params)
        started = time.perf_counter()
        for attempt in range(self.max_retries + 1):
            try:
                if self._gone is not None:  # the endpoint said 404/410 once: every request would fail
                    raise TransportError(self._gone.reason, str(self._gone), False)  # alike, so none is sent
                parsed = self._post(body)
            except TransportError as exc:
                if not exc.retryable or attempt == self.max_retries:
                    exc.attempts = attempt + 1
                    raise
                with self._lock:
                    self.stats["retries"] += 1
                    by = self.stats["retries_by_reason"]
                    by[exc.reason] = by.get(exc.reason, 0) + 1
                _sleep(self._delay(attempt, exc.retry_after))
                continue
            prompt_tokens, completion_tokens = self._usage_of(parsed)
            reply = ChatReply(content=self._content_of(parsed), requests=attempt + 1,
                              prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                              latency_s=time.perf_counter() - started, body=parsed)
            with self._lock:
                self.stats["prompt_tokens"] += reply.prompt_tokens
                self.stats["completion_tokens"] += reply.completion_tokens
            return reply
        raise AssertionError("unreachable")


# Request fields that providers retired, and what replaced them (named in the 404/410 error).
RETIRED = {
    "search_parameters": ("xAI Live Search (`search_parameters`) is retired",
                          "use the server-side web_search tool on the Responses API (POST /v1/responses; "
                          "the evaluator's use_internet=true does this) or a local passage index (search_corpus)"),
}


def gone_message(code: int, url: str, body: dict, detail: str = "") -> str:
    """The 404/410 error for a person: which feature is gone and what to use instead.

    >>> gone_message(410, "https://api.x.ai/v1/chat/completions", {"search_parameters": {}}).split("; ")[0]
    'HTTP 410 from https://api.x.ai/v1/chat/completions: xAI Live Search (`search_parameters`) is retired'
    """
    head = f"HTTP {code} from {url}"
    tail = f" (server said: {detail})" if detail else ""
    for key, (what, instead) in RETIRED.items():
        if key in body:
            return f"{head}: {what}; {instead}{tail}"
    if url.rstrip("/").endswith("/responses"):
        return (f"{head}: this server has no Responses API, which server-side web search needs; "
                f"use search_corpus (a local passage index, BM25) instead, or an endpoint that offers "
                f"/v1/responses with the web_search tool (xAI, OpenAI){tail}")
    return (f"{head}: no such endpoint or model (check base_url and the model name; a retired API feature "
            f"answers this way too){tail}")


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class OnlineTeacher:
    """The rubric teacher over a ChatClient: cache first, then one request per distinct row."""

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, rubric: Rubric | None = None,
                 cache_path: str | None = None, concurrency: int = 4, timeout: float = 60.0,
                 max_retries: int = 5, backoff_base: float = 1.0, backoff_max: float = 30.0,
                 request_extra: dict | None = None, seed: int | None = None):
        self.client = ChatClient(base_url, model, api_key_env, concurrency=concurrency, timeout=timeout,
                                 max_retries=max_retries, backoff_base=backoff_base, backoff_max=backoff_max,
                                 seed=seed)
        self.url = self.client.url
        self.model = model
        self.rubric = rubric or load_rubric()
        self.rubric_version = self.rubric.version
        self.cache = TeacherCache(cache_path or default_cache_path())
        self.concurrency = concurrency
        # temperature 0 unless the caller says otherwise (request_extra {"temperature": null} drops it:
        # reasoning models reject the parameter)
        params = {"temperature": 0, **dict(request_extra or {})}
        self.request_params = {k: v for k, v in params.items() if v is not None}
        self._lock = threading.Lock()
        self._own = {"reminders": 0, "cache_hits": 0, "graded": 0, "errors": 0}

    @property
    def stats(self) -> dict:
        return {**self.client.stats, **self._own}

    @classmethod
    def from_config(cls, cfg) -> "OnlineTeacher":
        return cls(base_url=cfg.base_url, model=cfg.teacher_model, api_key_env=cfg.api_key_env,
                   rubric=load_rubric(cfg.rubric), cache_path=cfg.cache, concurrency=cfg.concurrency,
                   timeout=cfg.timeout, max_retries=cfg.max_retries, backoff_base=cfg.backoff_base,
                   backoff_max=cfg.backoff_max, request_extra=cfg.request_extra_dict())

    def _chat(self, messages: list[dict]) -> tuple[str, int]:
        """(reply text, requests spent); TransportError once retries are exhausted or not allowed."""
        reply = self.client.complete(messages, **self.request_params)
        return reply.content, reply.requests

    def _grade_one(self, req: GradeRequest) -> tuple[GradeResult, bool]:
        """(result, cacheable). Never raises for a row: failures become error results."""
        messages = self.rubric.messages(req.prompt, req.answer, req.reference, req.answerable, req.context,
                                        req.references, req.incorrect_answers)
        spent = 0
        try:
            reply, n = self._chat(messages)
            spent += n
            try:
                grade, verdict, feedback = parse_reply(reply)
            except ReplyError as first:
                with self._lock:
                    self._own["reminders"] += 1
                messages = messages + [{"role": "assistant", "content": reply},
                                       {"role": "user", "content": REMINDER.format(reason=first)}]
                reply, n = self._chat(messages)
                spent += n
                try:
                    grade, verdict, feedback = parse_reply(reply)
                except ReplyError as second:
                    return GradeResult.failed(f"unusable teacher reply after a reminder: {second}", spent), True
        except TransportError as exc:
            spent += getattr(exc, "attempts", 1)
            return GradeResult.failed(self.client.scrub(f"{exc.reason}: {exc} (after {spent} request(s))"), spent), False
        return GradeResult(grade=grade, verdict=verdict, feedback=feedback, attempts=spent), True

    # -- many rows ------------------------------------------------------------------------------------
    def key_for(self, req: GradeRequest) -> str:
        reference = req.reference
        if req.references or req.incorrect_answers:  # the whole answer key is part of what was graded
            reference = json.dumps([req.reference, req.references, req.incorrect_answers], ensure_ascii=False)
        return cache_key(self.model, self.rubric_version, req.prompt, req.answer, reference,
                         [str(p.get("id")) for p in req.context])

    def grade_many(self, requests: list[GradeRequest], on_result: OnResult | None = None) -> list[GradeResult]:
        results: list[GradeResult | None] = [None] * len(requests)
        pending: dict[str, list[int]] = {}  # identical rows are asked once
        for i, req in enumerate(requests):
            key = self.key_for(req)
            hit = self.cache.get(key)
            if hit is not None:
                results[i] = GradeResult(**hit, cached=True)
                self._own["cache_hits"] += 1
                self._count(results[i])
                if on_result:
                    on_result(i, results[i])
            else:
                pending.setdefault(key, []).append(i)
        if pending:
            pool = ThreadPoolExecutor(max_workers=max(1, self.concurrency), thread_name_prefix="teacher")
            try:
                futures = {pool.submit(self._grade_one, requests[idx[0]]): key for key, idx in pending.items()}
                for fut in as_completed(futures):
                    key = futures[fut]
                    res, cacheable = fut.result()
                    if cacheable:
                        self.cache.put(key, res.to_cache(), self.model, self.rubric_version)
                    for i in pending[key]:
                        results[i] = res
                        self._count(res)
                        if on_result:
                            on_result(i, res)
            finally:
                # On an interrupt: drop queued rows, let in-flight requests end; what finished is cached.
                pool.shutdown(wait=True, cancel_futures=True)
        return results  # type: ignore[return-value]

    def _count(self, res: GradeResult) -> None:
        self._own["errors" if res.status == "error" else "graded"] += 1

    def describe(self) -> dict:
        return {"name": self.name, "model": self.model, "url": self.url, "rubric_version": self.rubric_version,
                "cache": str(self.cache.path), "concurrency": self.concurrency, **self.stats}

    def close(self) -> None:
        self.cache.close()
