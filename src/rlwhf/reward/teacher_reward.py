"""The teacher in the loop: a GRPO reward graded live by an OpenAI-compatible teacher on the honesty rubric.

One implementation behind both trainers (`rlwhf_teacher` in the ms-swift plugin, `teacher_reward` for TRL)
and configured the same way everywhere: `TeacherRewardConfig`, whose fields are the `RLWHF_TEACHER_*`
environment variables a plan writes (the API key itself never: only the NAME of its variable).

Where each completion's reward comes from, in order (one category per completion, so for every call
`requests + cache_hits + hybrid_skips + fallbacks + judged == completions`):

- `judged`: `source = judge` (the default, no network): the local rubric judge / learned reward, as today;
- `cache_hits`: the teacher already graded this (teacher model, rubric version, prompt, normalised answer,
  reference) in the SQLite cache `rlwhf evaluate` shares, or an identical answer earlier in the same call;
- `hybrid_skips`: `source = hybrid` and the local judge is certain (`judge_is_certain`): no request;
- `requests`: a fresh teacher grade (one per distinct answer; `http_requests` counts retries and re-asks);
- `fallbacks`: the teacher could not grade it (retries spent, unusable reply twice, refused, budget
  spent): the local judge grades it and the reason is counted. Never a crash, a lost step or a zero.

A teacher that is down from the start (no request ever succeeded and a whole call failed on transport)
raises `TeacherUnavailable` unless `fallback = judge`: a run must not train an hour on fallback grades.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
import threading
import time
import typing
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from rlwhf.config import parse_value
from rlwhf.data.io import append_jsonl, iter_objects
from rlwhf.errors import RlwhfError

if typing.TYPE_CHECKING:
    from rlwhf.preset import Preset

SOURCES = ("judge", "hybrid", "teacher")
FALLBACKS = ("stop", "judge")
RESPONSE_FORMATS = ("auto", "json_schema", "none")
ENV_PREFIX = "RLWHF_TEACHER_"
TELEMETRY_NAME = "teacher_reward"  # <run dir>/teacher_reward[.rank<N>].jsonl, one line per reward call
# Keys every per-call record (and every sum of them) carries; the launch report's `teacher` section.
COUNT_KEYS = ("completions", "requests", "cache_hits", "hybrid_skips", "fallbacks", "judged", "duplicates",
              "http_requests", "tokens", "prompt_tokens", "completion_tokens")

# The JSON schema the teacher is asked to answer in (`response_format`), the rubric's reply object.
GRADE_SCHEMA = {
    "type": "object",
    "properties": {
        "grade": {"type": "integer", "enum": [-2, -1, 0, 1, 2]},
        "verdict": {"type": "string", "enum": ["correct", "incorrect", "abstained"]},
        "feedback": {"type": "string"},
    },
    "required": ["grade", "verdict", "feedback"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "honesty_grade", "strict": True,
                                                          "schema": GRADE_SCHEMA}}


class TeacherUnavailable(RlwhfError):
    """The teacher never answered: stop rather than train on fallback grades (unless fallback = judge)."""


@dataclass
class TeacherRewardConfig:
    """How the GRPO reward is graded; each field is also the variable RLWHF_TEACHER_<FIELD> (see `to_env`)."""

    source: str = field(default="judge", metadata={
        "help": "judge: the local rubric judge (no network); teacher: every completion graded by the teacher; "
                "hybrid: the teacher only where the local judge is not certain", "choices": SOURCES})
    base_url: str | None = field(default=None, metadata={"help": "teacher endpoint, OpenAI-compatible (…/v1)"})
    model: str | None = field(default=None, metadata={"help": "teacher model name"})
    api_key_env: str | None = field(default=None, metadata={
        "help": "NAME of the environment variable holding the teacher's API key (a loopback teacher needs none)"})
    rubric: str = field(default="honesty_rubric_v1", metadata={"help": "rubric prompt (configs/prompts/ name or file)"})
    cache: str | None = field(default=None, metadata={
        "help": "SQLite grade cache shared with `rlwhf evaluate` (default $RLWHF_CACHE_DIR/teacher_cache.sqlite)"})
    concurrency: int = field(default=64, metadata={"help": "teacher requests in flight at most (per process)"})
    timeout: float = field(default=30.0, metadata={"help": "seconds before one teacher request counts as failed"})
    max_retries: int = field(default=3, metadata={
        "help": "retries per request (timeouts, 429, 5xx, dropped connections)"})
    backoff_base: float = field(default=0.5, metadata={"help": "first retry delay in seconds (doubles, + jitter)"})
    backoff_max: float = field(default=10.0, metadata={"help": "longest retry delay, Retry-After included"})
    max_requests: int | None = field(default=None, metadata={
        "help": "run budget: HTTP requests at most (per training process); then the local judge grades"})
    max_tokens: int | None = field(default=None, metadata={
        "help": "run budget: teacher tokens (prompt + completion, from `usage`) at most; then the local judge"})
    temperature: float | None = field(default=None, metadata={
        "help": "sent only when set (reasoning models reject the parameter)"})
    response_format: str = field(default="auto", metadata={
        "help": "auto: ask for the JSON schema and drop it after a 400 that names it; json_schema: always; "
                "none: never (tolerant parsing of the reply either way)", "choices": RESPONSE_FORMATS})
    fallback: str = field(default="stop", metadata={
        "help": "a teacher down from the start: stop the run (stop) or train on the local judge (judge)",
        "choices": FALLBACKS})
    price_per_million_tokens: float | None = field(default=None, metadata={
        "help": "teacher price in USD per million tokens: adds a cost line to the summary and report"})
    search_corpus: str | None = field(default=None, metadata={
        "help": "JSONL of passages {id, text}: the BM25 top passages go to the teacher with each question"})
    search_top_k: int = field(default=3, metadata={"help": "passages per question"})
    telemetry_dir: str | None = field(default=None, metadata={
        "help": "where teacher_reward.jsonl goes (default: the trainer's run folder)"})

    def _check_source(self) -> None:
        if self.source not in SOURCES:
            raise RlwhfError(f"teacher source {self.source!r}: choose one of {', '.join(SOURCES)}")
        if self.fallback not in FALLBACKS:
            raise RlwhfError(f"teacher fallback {self.fallback!r}: choose one of {', '.join(FALLBACKS)}")
        if self.response_format not in RESPONSE_FORMATS:
            raise RlwhfError(f"teacher response format {self.response_format!r}: choose one of "
                             f"{', '.join(RESPONSE_FORMATS)}")
        if self.source != "judge" and not (self.base_url and self.model):
            raise RlwhfError(f"reward source {self.source} needs a teacher: --teacher-base-url URL and "
                             "--teacher-model NAME")

    def _check_numbers(self) -> None:
        if self.concurrency < 1 or self.search_top_k < 1:
            raise RlwhfError("teacher concurrency and search_top_k must be at least 1")
        if self.timeout <= 0 or self.max_retries < 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise RlwhfError("teacher timeout must be positive; retries and back-off not negative")
        for name in ("max_requests", "max_tokens"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise RlwhfError(f"teacher {name} must not be negative, got {value}")

    def _check_key_name(self) -> None:
        # The variable's NAME goes into plans; a value that looks like a key is refused before it is written.
        if self.api_key_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            raise RlwhfError("--api-key-env takes the NAME of an environment variable (e.g. XAI_API_KEY), "
                             "never the key itself")

    @property
    def uses_teacher(self) -> bool:
        return self.source != "judge"

    def to_env(self) -> dict[str, str]:
        """RLWHF_TEACHER_* variables for a plan (unset fields left out). Holds no secret: only the key's NAME."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[ENV_PREFIX + f.name.upper()] = str(value)
        return out

    @classmethod
    def from_env(cls, environ: typing.Mapping[str, str] | None = None, **overrides) -> "TeacherRewardConfig":
        """The config the plan wrote (RLWHF_TEACHER_*), typed by the fields; `overrides` win."""
        environ = os.environ if environ is None else environ
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            tp = hints[f.name]
            kind = ([a for a in typing.get_args(tp) if a is not type(None)] or [tp])[0]
            try:
                values[f.name] = parse_value(raw, kind)
            except ValueError:
                raise RlwhfError(f"{ENV_PREFIX}{f.name.upper()}={raw!r}: expected a {kind.__name__}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        cfg = cls(**values)
        from rlwhf.config import check

        check(cfg)
        return cfg


@dataclass(kw_only=True)
class TeacherOptions:
    """The teacher flags `rlwhf plan`, `rlwhf train` and `rlwhf launch` share (their configs inherit these
    fields); unset flags leave the plan's (or the preset's) reward as it is."""

    reward: str | None = field(default=None, metadata={
        "help": "GRPO reward source: judge (local rubric judge, no network), teacher (every completion graded "
                "by the teacher) or hybrid (the teacher only where the judge is not certain); default: the "
                "preset's reward.source", "choices": SOURCES})
    teacher_base_url: str | None = field(default=None, metadata={
        "help": "teacher endpoint, OpenAI-compatible (…/v1): xAI, OpenAI, vLLM, Ollama, `swift deploy`"})
    teacher_model: str | None = field(default=None, metadata={"help": "teacher model name"})
    api_key_env: str | None = field(default=None, metadata={
        "help": "NAME of the environment variable holding the teacher's API key (never the key itself)"})
    teacher_fallback: str | None = field(default=None, metadata={
        "help": "a teacher down from the start: stop the run (stop, default) or train on the local judge (judge)",
        "choices": FALLBACKS})
    teacher_max_requests: int | None = field(default=None, metadata={
        "help": "run budget in teacher requests; then the local judge grades"})
    teacher_max_tokens: int | None = field(default=None, metadata={
        "help": "run budget in teacher tokens; then the local judge grades"})
    teacher_concurrency: int | None = field(default=None, metadata={"help": "teacher requests in flight at most"})
    teacher_price_per_million_tokens: float | None = field(default=None, metadata={
        "help": "USD per million teacher tokens: a cost line in the summary and the report"})

    def _check_teacher_options(self) -> None:
        if self.api_key_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            raise RlwhfError("--api-key-env takes the NAME of an environment variable (e.g. XAI_API_KEY), "
                             "never the key itself")
        if self.reward is not None and self.reward not in SOURCES:
            raise RlwhfError(f"--reward {self.reward!r}: choose one of {', '.join(SOURCES)}")

    def teacher_overrides(self) -> dict:
        """The TeacherRewardConfig fields these flags set (empty: none given)."""
        given = {"source": self.reward, "base_url": self.teacher_base_url, "model": self.teacher_model,
                 "api_key_env": self.api_key_env, "fallback": self.teacher_fallback,
                 "max_requests": self.teacher_max_requests, "max_tokens": self.teacher_max_tokens,
                 "concurrency": self.teacher_concurrency,
                 "price_per_million_tokens": self.teacher_price_per_million_tokens}
        return {k: v for k, v in given.items() if v is not None}

    def teacher_config(self, preset: "Preset | None" = None, base: TeacherRewardConfig | None = None
                       ) -> TeacherRewardConfig | None:
        """The reward config these flags ask for, over `base` (a plan's) or the preset's `reward` section
        (a `rlwhf.preset.Preset`); None when neither the flags nor the preset name a source."""
        source = preset.reward.source if preset is not None else None
        given = self.teacher_overrides()
        if base is not None:
            values = dataclasses.asdict(base)
        elif given.get("source") or source:
            values = preset.reward.teacher.given() if preset is not None else {}
            values["source"] = source or "judge"
        else:
            return None
        values.update(given)
        cfg = TeacherRewardConfig(**values)
        from rlwhf.config import check

        check(cfg)
        return cfg


# ---------------------------------------------------------------- what hybrid trusts the judge with
# Outcomes of the judge that follow from the reference or the rule alone (docs/rubric.md): the answer
# matches the reference (plain or hedged), a plain abstention, "nobody can know" or a specific answer to
# a question known to be unanswerable, an empty or cut-off answer. A wrong-looking answer is NOT among
# them: a string judge cannot tell a paraphrase or a newer fact from an error, the teacher can.
CERTAIN_OUTCOMES = frozenset({"correct", "correct_hedged", "abstained", "unknowable", "unknowable_hedged",
                              "unanswerable_answer", "degenerate", "truncated"})


def judge_is_certain(judgement, has_reference: bool) -> bool:
    """Is the local judge sure enough of this grade that the teacher need not be asked?

    The one place `hybrid` decides: the judge must say it is certain (`Judgement.certain`: False for a
    right answer with unverified detail, a partial match, or nothing to check against) AND the outcome
    must be one the reference or the rule settles (`CERTAIN_OUTCOMES`). Everything else goes to the
    teacher.

    >>> from rlwhf.reward.rubric import judge
    >>> judge_is_certain(judge("What is 7 plus 5?", "The answer is 12.", "12"), True)
    True
    >>> judge_is_certain(judge("What is 7 plus 5?", "The answer is 13.", "12"), True)
    False
    >>> judge_is_certain(judge("What is the capital of Australia?", "The capital of Australia is Canberra, "
    ...                        "which was chosen as a compromise between Sydney and Melbourne.", "Canberra"), True)
    False
    """
    if getattr(judgement, "certain", True) is not True:
        return False
    outcome = getattr(judgement, "outcome", None)
    if outcome in ("correct", "correct_hedged") and not has_reference:
        return False
    return outcome in CERTAIN_OUTCOMES


# ---------------------------------------------------------------- tolerant reply parsing
_OBJECT = re.compile(r"\{.*\}", re.S)


def parse_grade(text: str) -> tuple[int, str, str]:
    """(grade, verdict, feedback) from a teacher reply: the strict rubric reader first, then the first
    JSON object inside chatter ("Here you go: {...}"), with `rationale` accepted for `feedback`.

    >>> parse_grade('Sure. {"grade": 2, "verdict": "correct", "rationale": "Right."} Hope it helps.')
    (2, 'correct', 'Right.')
    """
    from rlwhf.teacher.prompt import ReplyError, parse_reply

    try:
        return parse_reply(_with_feedback(text))
    except ReplyError as strict:
        match = _OBJECT.search(text or "")
        if not match or match.group(0).strip() == (text or "").strip():
            raise strict
        try:
            return parse_reply(_with_feedback(match.group(0)))
        except ReplyError:
            raise strict from None


def _with_feedback(text: str) -> str:
    """`rationale` (the field name some prompts use) stands in for a missing `feedback`."""
    if not text or "rationale" not in text:
        return text
    try:
        obj = json.loads(text)
    except ValueError:
        return text
    if isinstance(obj, dict) and "feedback" not in obj and isinstance(obj.get("rationale"), str):
        obj["feedback"] = obj.pop("rationale")
        return json.dumps(obj)
    return text


# ---------------------------------------------------------------- the reward
@dataclass
class _Item:
    prompt: str
    answer: str
    reference: str | None
    answerable: bool | None
    truncated: bool
    closed_world: bool = False  # the built-in corpus: the reference is the whole truth


@dataclass
class _Outcome:
    grade: int | None = None
    reason: str | None = None  # why it fell back (None: graded)
    http_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    transport_only: bool = False  # every failure was the transport (the teacher may be down)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[k]


def _reference_text(reference: Any) -> str | None:
    if reference is None:
        return None
    if isinstance(reference, (list, tuple)):
        parts = [str(r) for r in reference if r is not None and str(r).strip()]
        return " | ".join(parts) or None
    text = str(reference)
    return text if text.strip() else None


class TeacherReward:
    """Rewards for a trainer's batch graded by the teacher (see the module docstring); thread-safe.

    `score(completions, **columns) -> list[float]` takes what ms-swift and TRL pass (completions as
    strings or message lists, `messages` / `prompts`, `reference` / `solution`, `answerable`,
    `is_truncated`, `trainer_state`); `last_stats` holds the call's counters, also appended to
    `teacher_reward.jsonl` in the telemetry folder.
    """

    def __init__(self, cfg: TeacherRewardConfig | None = None, local=None, log=None):
        from rlwhf.config import check

        self.cfg = cfg or TeacherRewardConfig()
        check(self.cfg)
        if local is None:
            from rlwhf.reward.learned import reward_from_env

            local = reward_from_env(None)
        self.local = local  # HonestyReward: the judge (and learned model) that grades fallbacks
        self._log = log or (lambda msg: print(f"[rlwhf teacher] {msg}", file=sys.stderr, flush=True))
        self._lock = threading.Lock()
        self.totals = {k: 0 for k in COUNT_KEYS}
        self.fallback_reasons: dict[str, int] = {}
        self.ever_graded = False
        self.budget_spent = False
        self._said_budget = False
        self._said_nonsense = False
        self._started = 0  # teacher exchanges begun (the request budget counts them before they send)
        self._use_schema = self.cfg.response_format != "none"
        self.last_stats: dict = {}
        self.records: list[dict] = []
        self.telemetry_path: Path | None = None
        self.client = self.cache = self.rubric = self.index = None
        self._pool: ThreadPoolExecutor | None = None
        if self.cfg.uses_teacher:
            from rlwhf.teacher.cache import TeacherCache, default_cache_path
            from rlwhf.teacher.client import ChatClient
            from rlwhf.teacher.prompt import load_rubric

            self.client = ChatClient(self.cfg.base_url, self.cfg.model, self.cfg.api_key_env,
                                     concurrency=self.cfg.concurrency, timeout=self.cfg.timeout,
                                     max_retries=self.cfg.max_retries, backoff_base=self.cfg.backoff_base,
                                     backoff_max=self.cfg.backoff_max)
            self.rubric = load_rubric(self.cfg.rubric)
            self.cache = TeacherCache(self.cfg.cache or default_cache_path())
            if self.cfg.search_corpus:
                from rlwhf.teacher.search import BM25Index

                self.index = BM25Index.from_jsonl(self.cfg.search_corpus)

    # ---- setup helpers
    def set_telemetry(self, folder: str | Path | None, rank: int = 0) -> None:
        """Append one JSON line per call to FOLDER/teacher_reward[.rank<N>].jsonl (None: don't)."""
        if folder is None:
            self.telemetry_path = None
            return
        name = TELEMETRY_NAME + (f".rank{rank}" if rank else "") + ".jsonl"
        self.telemetry_path = Path(folder) / name

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self.cache is not None:
            self.cache.close()

    # ---- one batch
    def score(self, completions: Sequence[Any], **kwargs) -> list[float]:
        items = _items(completions, kwargs)
        return self.score_items(items, step=_step_of(kwargs.get("trainer_state")))

    def score_items(self, items: list[_Item], step: int | None = None) -> list[float]:
        t0 = time.perf_counter()
        n = len(items)
        stats = {k: 0 for k in COUNT_KEYS}
        stats["completions"] = n
        reasons: dict[str, int] = {}
        grades: list[float | None] = [None] * n
        latencies: list[float] = []

        if not self.cfg.uses_teacher:
            grades = [self._local(it) for it in items]
            stats["judged"] = n
        else:
            pending: dict[str, list[int]] = {}
            for i, it in enumerate(items):
                key = self._key(it)
                if key in pending:  # an identical answer earlier in this call: graded once
                    pending[key].append(i)
                    continue
                hit = self.cache.get(key)
                if hit is not None and hit.get("status", "graded") == "graded" and isinstance(hit.get("grade"), int):
                    grades[i] = float(hit["grade"])
                    stats["cache_hits"] += 1
                    continue
                if self.cfg.source == "hybrid":
                    j = self.local.judge.judge(it.prompt, it.answer, it.reference, it.answerable, it.closed_world)
                    if judge_is_certain(j, it.reference is not None):
                        grades[i] = self._local(it)
                        stats["hybrid_skips"] += 1
                        continue
                pending[key] = [i]
            outcomes = self._ask_all({key: items[idx[0]] for key, idx in pending.items()})
            transport_failures = 0
            for key, idx in pending.items():
                out = outcomes[key]
                stats["http_requests"] += out.http_requests
                stats["prompt_tokens"] += out.prompt_tokens
                stats["completion_tokens"] += out.completion_tokens
                if out.reason is None:
                    stats["requests"] += 1
                    stats["cache_hits"] += len(idx) - 1
                    stats["duplicates"] += len(idx) - 1
                    latencies.append(out.latency_s)
                    for i in idx:
                        grades[i] = float(out.grade)
                else:
                    transport_failures += out.transport_only
                    stats["fallbacks"] += len(idx)
                    reasons[out.reason] = reasons.get(out.reason, 0) + len(idx)
                    for i in idx:
                        grades[i] = self._local(items[i])
            stats["tokens"] = stats["prompt_tokens"] + stats["completion_tokens"]
            if stats["requests"]:
                self.ever_graded = True
            elif pending and not self.ever_graded:
                if reasons.get("unparseable") and not self._said_nonsense:
                    self._said_nonsense = True
                    self._log(f"the teacher at {self.client.url} answers, but none of its replies was the rubric's "
                              f"JSON object ({reasons['unparseable']} unusable twice): the local judge grades "
                              "those; check --teacher-model and the server's chat template")
                if transport_failures == len(pending) and self.cfg.fallback == "stop":
                    raise TeacherUnavailable(
                        f"the teacher at {self.client.url} did not answer any of {len(pending)} grading request(s) "
                        f"({', '.join(f'{k}: {v}' for k, v in sorted(reasons.items()))}); stopping rather than "
                        "training on fallback grades (pass --teacher-fallback judge to train on the local judge's "
                        "grades when the teacher is down)")

        rewards = [min(g, 0.0) if it.truncated else g for g, it in zip(grades, items)]
        wait = time.perf_counter() - t0
        record = {"time": round(time.time(), 3), "step": step, "source": self.cfg.source, **stats,
                  "fallback_reasons": reasons,
                  "latency_ms_mean": round(1000 * sum(latencies) / len(latencies), 2) if latencies else None,
                  "latency_ms_p95": round(1000 * _percentile(latencies, 0.95), 2) if latencies else None,
                  "latency_ms": [round(1000 * x, 2) for x in latencies],
                  "reward_wait_s": round(wait, 4), "budget_spent": self.budget_spent}
        with self._lock:
            for k in COUNT_KEYS:
                self.totals[k] += stats[k]
            for k, v in reasons.items():
                self.fallback_reasons[k] = self.fallback_reasons.get(k, 0) + v
        self.last_stats = record
        self.records.append(record)
        self._write(record)
        return rewards

    # ---- internals
    def _local(self, it: _Item) -> float:
        return float(self.local.score_one(it.prompt, it.answer, it.reference, it.answerable, it.closed_world)[0])

    def _key(self, it: _Item) -> str:
        from rlwhf.teacher.cache import cache_key

        return cache_key(self.cfg.model, self.rubric.version, it.prompt, it.answer, it.reference,
                         [str(p.get("id")) for p in self._context(it)])

    def _context(self, it: _Item) -> list[dict]:
        return self.index.search(it.prompt, k=self.cfg.search_top_k) if self.index is not None else []

    def _budget_left(self, reserve: bool = False) -> bool:
        """Is there budget for one more exchange? With `reserve`, take it (exchanges run concurrently, so
        one that has started but not yet sent counts against max_requests). Tokens are only known once
        replies arrive: up to `concurrency` exchanges may overshoot max_tokens."""
        cfg, stats = self.cfg, self.client.stats
        with self._lock:
            used = max(stats["requests"], self._started)
            tokens = stats["prompt_tokens"] + stats["completion_tokens"]
            spent = (cfg.max_requests is not None and used >= cfg.max_requests) or \
                    (cfg.max_tokens is not None and tokens >= cfg.max_tokens)
            if not spent and reserve:
                self._started += 1
            first = spent and not self._said_budget
            if spent:
                self.budget_spent = self._said_budget = True
        if first:
            self._log(f"teacher budget spent ({used} requests, {tokens} tokens; limits: max_requests "
                      f"{cfg.max_requests}, max_tokens {cfg.max_tokens}): the local judge grades from here on")
        return not spent

    def _ask_all(self, todo: dict[str, _Item]) -> dict[str, _Outcome]:
        """One teacher exchange per distinct answer, at most `concurrency` at once; never raises."""
        if not todo:
            return {}
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.cfg.concurrency, thread_name_prefix="teacher-reward")
        results: dict[str, _Outcome] = {}
        futures = {}
        for key, it in todo.items():
            if not self._budget_left():
                results[key] = _Outcome(reason="budget")
                continue
            futures[key] = self._pool.submit(self._ask, key, it)
        for key, fut in futures.items():
            try:
                results[key] = fut.result()
            except Exception as exc:  # a bug in one exchange must not sink the step: fall back, counted
                results[key] = _Outcome(reason=f"error:{type(exc).__name__}")
        return results

    def _params(self) -> dict:
        params: dict[str, Any] = {}
        if self.cfg.temperature is not None:
            params["temperature"] = self.cfg.temperature
        if self._use_schema:
            params["response_format"] = RESPONSE_FORMAT
        return params

    def _complete(self, messages: list[dict], out: _Outcome):
        """One chat completion; a 400 naming response_format drops it (auto) and asks again."""
        from rlwhf.teacher.client import TransportError

        while True:
            schema = self._use_schema
            try:
                reply = self.client.complete(messages, **self._params())
            except TransportError as exc:
                out.http_requests += getattr(exc, "attempts", 1)
                text = str(exc).lower()
                if (schema and self.cfg.response_format == "auto" and exc.reason == "http_400"
                        and ("response_format" in text or "json_schema" in text or "schema" in text)):
                    with self._lock:
                        if self._use_schema:
                            self._use_schema = False
                            self._log(f"the teacher refuses response_format ({self.client.scrub(str(exc))[:120]}); "
                                      "asking without it from now on (tolerant parsing)")
                    continue
                raise
            out.http_requests += reply.requests
            out.prompt_tokens += reply.prompt_tokens
            out.completion_tokens += reply.completion_tokens
            return reply

    def _ask(self, key: str, it: _Item) -> _Outcome:
        from rlwhf.teacher.client import TransportError
        from rlwhf.teacher.prompt import REMINDER, ReplyError

        out = _Outcome()
        if not self._budget_left(reserve=True):
            out.reason = "budget"
            return out
        t0 = time.perf_counter()
        messages = self.rubric.messages(it.prompt, it.answer, it.reference, it.answerable, self._context(it))
        try:
            reply = self._complete(messages, out)
            try:
                grade, verdict, feedback = parse_grade(reply.content)
            except ReplyError as first:
                if not self._budget_left():
                    out.reason = "budget"
                    return out
                messages = messages + [{"role": "assistant", "content": reply.content},
                                       {"role": "user", "content": REMINDER.format(reason=first)}]
                reply = self._complete(messages, out)
                try:
                    grade, verdict, feedback = parse_grade(reply.content)
                except ReplyError:
                    out.reason = "unparseable"
                    return out
        except TransportError as exc:
            out.reason = exc.reason
            out.transport_only = True
            return out
        out.grade, out.latency_s = grade, time.perf_counter() - t0
        self.cache.put(key, {"grade": grade, "verdict": verdict, "feedback": feedback, "status": "graded",
                             "error": None}, self.cfg.model, self.rubric.version)
        return out

    def _write(self, record: dict) -> None:
        if self.telemetry_path is None:
            return
        try:
            self.telemetry_path.parent.mkdir(parents=True, exist_ok=True)
            append_jsonl(self.telemetry_path, record)
        except OSError as exc:  # telemetry must never cost a step
            self._log(f"cannot write {self.telemetry_path}: {exc.strerror}")

    def summary(self) -> dict:
        """Totals of every call so far (the `teacher` section's shape)."""
        return summarize(self.records, self.cfg.source, price=self.cfg.price_per_million_tokens)


# ---------------------------------------------------------------- batch columns
def _step_of(state: Any) -> int | None:
    step = getattr(state, "global_step", None)
    return step + 1 if isinstance(step, int) else None  # the step these rewards train


def _items(completions: Sequence[Any], kwargs: dict) -> list[_Item]:
    from rlwhf.reward.learned import trainer_columns
    from rlwhf.reward.rubric import completion_text

    return [_Item(p or "", completion_text(c).strip(), _reference_text(r), a, bool(t), bool(w))
            for p, c, r, a, t, w in trainer_columns(completions, kwargs)]


# ---------------------------------------------------------------- reading the telemetry back
def summarize(records: list[dict], source: str | None = None, price: float | None = None) -> dict:
    """The `teacher` section: sums over per-call records, latency mean / p95 over every graded request,
    the reward wait, and a cost line when a price per million tokens is known."""
    sums = {k: 0 for k in COUNT_KEYS}
    fallback_reasons: dict[str, int] = {}
    latencies: list[float] = []
    wait = 0.0
    violations = []
    for rec in records:
        for k in COUNT_KEYS:
            sums[k] += int(rec.get(k) or 0)
        for k, v in (rec.get("fallback_reasons") or {}).items():
            fallback_reasons[k] = fallback_reasons.get(k, 0) + int(v)
        latencies += [float(x) for x in rec.get("latency_ms") or []]
        wait += float(rec.get("reward_wait_s") or 0.0)
        if not balanced(rec):
            violations.append(rec.get("step"))
        source = source or rec.get("source")
    out = {"source": source or "judge", **{k: sums[k] for k in COUNT_KEYS},
           "fallback_reasons": fallback_reasons,
           "latency_ms_mean": round(sum(latencies) / len(latencies), 2) if latencies else None,
           "latency_ms_p95": round(_percentile(latencies, 0.95), 2) if latencies else None,
           "reward_wait_s": round(wait, 3), "calls": len(records),
           "budget_spent": any(r.get("budget_spent") for r in records),
           "unbalanced_steps": violations}
    if price is not None:
        out["cost_usd"] = round(sums["tokens"] * price / 1e6, 6)
        out["cost"] = f"{sums['tokens']} tokens x ${price:g}/M = ${out['cost_usd']:.4f}"
    return out


def balanced(rec: dict) -> bool:
    """requests + cache_hits + hybrid_skips + fallbacks + judged == completions."""
    return sum(int(rec.get(k) or 0) for k in ("requests", "cache_hits", "hybrid_skips", "fallbacks", "judged")) \
        == int(rec.get("completions") or 0)


def read_records(root: str | Path, since: float | None = None) -> list[dict]:
    """Every per-call record under `root` (all ranks, all run versions), in time order."""
    root = Path(root)
    if not root.is_dir():
        return []
    records = []
    for path in sorted(root.rglob(TELEMETRY_NAME + "*.jsonl")):
        if "telemetry" in path.relative_to(root).parts:
            continue
        if since is not None and path.stat().st_mtime < since:
            continue
        # damaged="skip": kill -9 can cut a line, and a resumed run appends after it (or the run is still writing)
        records += [rec for _, rec in iter_objects(path, "telemetry record", damaged="skip") if "completions" in rec]
    records.sort(key=lambda r: r.get("time") or 0)
    return records


# ---------------------------------------------------------------- one reward per process
_SHARED: dict[tuple, TeacherReward] = {}


def reward_for_env(telemetry_dir: str | Path | None = None, rank: int | None = None) -> TeacherReward:
    """The TeacherReward the environment configures (RLWHF_TEACHER_*), one per process and config."""
    cfg = TeacherRewardConfig.from_env()
    key = tuple(sorted(cfg.to_env().items()))
    reward = _SHARED.get(key)
    if reward is None:
        reward = _SHARED[key] = TeacherReward(cfg)
        folder = cfg.telemetry_dir or telemetry_dir
        if rank is None:
            rank = int(os.environ.get("RANK", "0") or 0)
        reward.set_telemetry(folder, rank)
    return reward


def probe(cfg: TeacherRewardConfig, timeout: float = 15.0) -> str | None:
    """One grading request before training starts: None when the teacher answers (even nonsense), else why not."""
    from rlwhf.teacher.client import ChatClient, TransportError
    from rlwhf.teacher.prompt import load_rubric

    client = ChatClient(cfg.base_url, cfg.model, cfg.api_key_env, concurrency=1, timeout=min(timeout, cfg.timeout),
                        max_retries=1, backoff_base=0.2, backoff_max=1.0)
    messages = load_rubric(cfg.rubric).messages("What is 2 plus 2?", "The answer is 4.", "4", True)
    params = {"max_tokens": 64}
    try:
        client.complete(messages, **params)
    except TransportError as exc:
        if exc.reason == "http_400":  # it answered: it only dislikes a parameter
            return None
        return client.scrub(f"{exc.reason}: {exc}")
    return None
