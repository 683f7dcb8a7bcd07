"""The online teacher: an OpenAI-compatible chat-completions endpoint, stdlib only (urllib + threads).

Reliability, in order of what happens to one row:
1. the SQLite cache (teacher model, rubric version, prompt, answer, reference, passages) answers it
   if it can: a restarted run re-asks nothing it has;
2. else a worker (at most `concurrency` at once) POSTs the rubric prompt; timeouts, connection errors,
   429 and 5xx (and a 200 whose body is not a chat completion) are retried up to `max_retries` times
   after `min(backoff_max, backoff_base * 2**attempt) * (1 + U[0, 1))` seconds, or after Retry-After
   (capped at `backoff_max`) when a 429/503 sends it;
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

from rlwhf.errors import RlwhfError
from rlwhf.evaluate.cache import TeacherCache, cache_key, default_cache_path
from rlwhf.evaluate.rubric import REMINDER, ReplyError, Rubric, load_rubric, parse_reply
from rlwhf.evaluate.teachers import GradeRequest, GradeResult, OnResult

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


class OnlineTeacher:
    name = "openai"

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, rubric: Rubric | None = None,
                 cache_path: str | None = None, concurrency: int = 4, timeout: float = 60.0,
                 max_retries: int = 5, backoff_base: float = 1.0, backoff_max: float = 30.0,
                 request_extra: dict | None = None, seed: int | None = None):
        self.url = chat_url(base_url)
        self.model = model
        self.api_key_env = api_key_env
        self._key = os.environ.get(api_key_env) if api_key_env else None
        if not self._key and not is_loopback(self.url):
            raise RlwhfError(f"the teacher API key is not set: export {api_key_env or 'A_VARIABLE'}=... and pass "
                             f"--api-key-env with that variable's name (a loopback server needs none)")
        self.rubric = rubric or load_rubric()
        self.rubric_version = self.rubric.version
        self.cache = TeacherCache(cache_path or default_cache_path())
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.request_extra = dict(request_extra or {})
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0, "retries_by_reason": {}, "reminders": 0, "cache_hits": 0,
                      "graded": 0, "errors": 0}

    @classmethod
    def from_config(cls, cfg) -> "OnlineTeacher":
        return cls(base_url=cfg.base_url, model=cfg.teacher_model, api_key_env=cfg.api_key_env,
                   rubric=load_rubric(cfg.rubric), cache_path=cfg.cache, concurrency=cfg.concurrency,
                   timeout=cfg.timeout, max_retries=cfg.max_retries, backoff_base=cfg.backoff_base,
                   backoff_max=cfg.backoff_max, request_extra=cfg.request_extra_dict())

    # -- one HTTP exchange ---------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _post(self, messages: list[dict]) -> str:
        body = {"model": self.model, "messages": messages, "temperature": 0, **self.request_extra}
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
            detail = self._scrub(exc.read(300).decode("utf-8", "replace")) if exc.fp else ""
            retry_after = parse_retry_after(exc.headers.get("Retry-After")) if exc.headers else None
            if exc.code == 429:
                raise TransportError("http_429", f"HTTP 429 rate limited {detail}".strip(), True, retry_after)
            if exc.code >= 500:
                raise TransportError(f"http_{exc.code}", f"HTTP {exc.code} {detail}".strip(), True, retry_after)
            raise TransportError(f"http_{exc.code}", f"HTTP {exc.code} {detail}".strip(), False)
        except (TimeoutError, socket.timeout) as exc:
            raise TransportError("timeout", f"no answer within {self.timeout:g} s ({exc})", True)
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise TransportError("timeout", f"no answer within {self.timeout:g} s", True)
            raise TransportError("connection", self._scrub(f"connection failed: {exc.reason}"), True)
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise TransportError("connection", self._scrub(f"connection failed: {type(exc).__name__}: {exc}"), True)
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
            if not isinstance(content, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            # A 200 that is not a chat completion is a broken proxy or server, not the teacher's opinion.
            raise TransportError("bad_response", f"the response is not a chat completion ({exc})", True)
        return content

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.backoff_max, retry_after)
        base = min(self.backoff_max, self.backoff_base * 2 ** attempt)
        with self._lock:
            jitter = self._rng.random()
        return min(self.backoff_max, base * (1 + jitter))

    def _chat(self, messages: list[dict]) -> tuple[str, int]:
        """(reply text, requests spent); TransportError once retries are exhausted or not allowed."""
        for attempt in range(self.max_retries + 1):
            try:
                return self._post(messages), attempt + 1
            except TransportError as exc:
                if not exc.retryable or attempt == self.max_retries:
                    exc.attempts = attempt + 1
                    raise
                with self._lock:
                    self.stats["retries"] += 1
                    by = self.stats["retries_by_reason"]
                    by[exc.reason] = by.get(exc.reason, 0) + 1
                _sleep(self._delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")

    def _grade_one(self, req: GradeRequest) -> tuple[GradeResult, bool]:
        """(result, cacheable). Never raises for a row: failures become error results."""
        messages = self.rubric.messages(req.prompt, req.answer, req.reference, req.answerable, req.context)
        spent = 0
        try:
            reply, n = self._chat(messages)
            spent += n
            try:
                grade, verdict, feedback = parse_reply(reply)
            except ReplyError as first:
                with self._lock:
                    self.stats["reminders"] += 1
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
            return GradeResult.failed(self._scrub(f"{exc.reason}: {exc} (after {spent} request(s))"), spent), False
        return GradeResult(grade=grade, verdict=verdict, feedback=feedback, attempts=spent), True

    # -- many rows ------------------------------------------------------------------------------------
    def key_for(self, req: GradeRequest) -> str:
        return cache_key(self.model, self.rubric_version, req.prompt, req.answer, req.reference,
                         [str(p.get("id")) for p in req.context])

    def grade_many(self, requests: list[GradeRequest], on_result: OnResult | None = None) -> list[GradeResult]:
        results: list[GradeResult | None] = [None] * len(requests)
        pending: dict[str, list[int]] = {}  # identical rows are asked once
        for i, req in enumerate(requests):
            key = self.key_for(req)
            hit = self.cache.get(key)
            if hit is not None:
                results[i] = GradeResult(**hit, cached=True)
                self.stats["cache_hits"] += 1
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
        self.stats["errors" if res.status == "error" else "graded"] += 1

    def describe(self) -> dict:
        return {"name": self.name, "model": self.model, "url": self.url, "rubric_version": self.rubric_version,
                "cache": str(self.cache.path), "concurrency": self.concurrency, **self.stats}

    def close(self) -> None:
        self.cache.close()
