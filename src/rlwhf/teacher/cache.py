"""A persistent SQLite cache of teacher grades, so a restarted evaluation re-asks nothing it already has."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path


def default_cache_path() -> Path:
    """RLWHF_CACHE_DIR (default ~/.cache/rlwhf) / teacher_cache.sqlite."""
    root = os.environ.get("RLWHF_CACHE_DIR") or Path.home() / ".cache" / "rlwhf"
    return Path(root) / "teacher_cache.sqlite"


def cache_key(teacher_model: str, rubric_version: str, prompt: str, answer: str, reference: str | None,
              context_ids: list[str] | None = None) -> str:
    """sha256 over (teacher model, rubric version, prompt, normalised answer, reference, search passage ids).

    The answer is normalised by `normalise_answer` (whitespace), so the GRPO reward and `rlwhf evaluate`
    find each other's grades.

    >>> cache_key("m", "v1", "q", " a  b ", None) == cache_key("m", "v1", "q", "a b", None)
    True
    """
    blob = json.dumps([teacher_model, rubric_version, prompt, normalise_answer(answer), reference,
                       list(context_ids or [])],
                      ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def normalise_answer(answer: str) -> str:
    """The answer as the cache keys it: surrounding and repeated whitespace do not make a new answer.

    >>> normalise_answer("  The answer is\\t 4. ")
    'The answer is 4.'
    """
    return " ".join(str(answer).split())


_LOCKED_RETRIES = 20


def _retry_locked(fn):
    """Run `fn()`, retrying while another process holds the database (beyond sqlite's busy timeout:
    opening a fresh file in WAL mode can still report 'database is locked' when ranks start together)."""
    for attempt in range(_LOCKED_RETRIES):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if ("locked" not in text and "busy" not in text) or attempt == _LOCKED_RETRIES - 1:
                raise
            time.sleep(min(1.0, 0.02 * 2 ** attempt))
    raise AssertionError("unreachable")


class TeacherCache:
    """key -> {"grade", "verdict", "feedback", ...}; one connection, guarded by a lock (thread pool safe).

    Each put commits at once: an interrupted run keeps every grade it finished. Several processes (the
    ranks of one run, a training run and an evaluation) may share the file: WAL journal, a busy timeout,
    and a retry when the database is still reported locked.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        _retry_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
        self._db.execute("PRAGMA busy_timeout=30000")
        # WAL + NORMAL: a commit reaches the OS without an fsync each time (a whole GRPO step commits dozens
        # of grades); a killed process loses nothing committed, only a power cut could lose the last few.
        self._db.execute("PRAGMA synchronous=NORMAL")

        def create():
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS grades (key TEXT PRIMARY KEY, teacher_model TEXT, rubric_version TEXT,"
                " value TEXT NOT NULL, created REAL DEFAULT (julianday('now')))"
            )
            self._db.commit()

        _retry_locked(create)

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = _retry_locked(lambda: self._db.execute("SELECT value FROM grades WHERE key = ?", (key,)).fetchone())
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict, teacher_model: str = "", rubric_version: str = "") -> None:
        def write():
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO grades (key, teacher_model, rubric_version, value) VALUES (?, ?, ?, ?)",
                    (key, teacher_model, rubric_version, json.dumps(value, ensure_ascii=False)),
                )
                self._db.commit()
            except sqlite3.OperationalError:
                self._db.rollback()
                raise

        with self._lock:
            _retry_locked(write)

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM grades").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
