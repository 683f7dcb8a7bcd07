"""A persistent SQLite cache of teacher grades, so a restarted evaluation re-asks nothing it already has."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path


def default_cache_path() -> Path:
    """RLWHF_CACHE_DIR (default ~/.cache/rlwhf) / teacher_cache.sqlite."""
    root = os.environ.get("RLWHF_CACHE_DIR") or Path.home() / ".cache" / "rlwhf"
    return Path(root) / "teacher_cache.sqlite"


def cache_key(teacher_model: str, rubric_version: str, prompt: str, answer: str, reference: str | None,
              context_ids: list[str] | None = None) -> str:
    """sha256 over (teacher model, rubric version, prompt, answer, reference, search passage ids).

    >>> cache_key("m", "v1", "q", "a", None) == cache_key("m", "v1", "q", "a", None)
    True
    """
    blob = json.dumps([teacher_model, rubric_version, prompt, answer, reference, list(context_ids or [])],
                      ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class TeacherCache:
    """key -> {"grade", "verdict", "feedback", ...}; one connection, guarded by a lock (thread pool safe).

    Each put commits at once: an interrupted run keeps every grade it finished.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS grades (key TEXT PRIMARY KEY, teacher_model TEXT, rubric_version TEXT,"
            " value TEXT NOT NULL, created REAL DEFAULT (julianday('now')))"
        )
        self._db.commit()

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM grades WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict, teacher_model: str = "", rubric_version: str = "") -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO grades (key, teacher_model, rubric_version, value) VALUES (?, ?, ?, ?)",
                (key, teacher_model, rubric_version, json.dumps(value, ensure_ascii=False)),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM grades").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
