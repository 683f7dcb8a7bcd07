"""Read trainer logs: ms-swift's `logging.jsonl` (and the same format our TRL runner writes).

One record per logging step; the step number comes from `global_step/max_steps` ("3/150", ms-swift)
or `step` (TRL's log_history). Records without a step or a training metric (the end-of-run summary,
the model-info line) are not steps.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Iterable, Iterator

from rlwhf.data.io import JsonlTail, iter_objects

LOG_NAME = "logging.jsonl"
# CSV column -> trainer-log key. GRPO logs reward/reward_std/kl; DPO logs rewards/margins instead.
STEP_COLUMNS = {
    "step": "step",
    "reward": "reward",
    "reward_std": "reward_std",
    "kl": "kl",
    "loss": "loss",
    "step_time": "step_time",
    "grad_norm": "grad_norm",
    "learning_rate": "learning_rate",
    "frac_reward_zero_std": "frac_reward_zero_std",
    "completion_mean_length": "completions/mean_length",
    "dpo_reward_margin": "rewards/margins",
    "dpo_reward_accuracy": "rewards/accuracies",
}
_TRAIN_METRICS = ("loss", "reward", "rewards/margins")


def step_of(record: dict) -> int | None:
    """The optimizer step a log record belongs to, or None when it is not a per-step record.

    >>> step_of({"loss": 0.1, "global_step/max_steps": "3/150"})
    3
    >>> step_of({"train_runtime": 1.0, "step": 4}) is None
    True
    """
    if not any(key in record for key in _TRAIN_METRICS):
        return None
    marker = record.get("global_step/max_steps")
    if isinstance(marker, str) and "/" in marker:
        head = marker.split("/", 1)[0]
        if head.isdigit():
            return int(head)
    step = record.get("step")
    if isinstance(step, int) and not isinstance(step, bool):
        return step
    return None


def max_steps_of(record: dict) -> int | None:
    """The run's total step count when the record carries it (ms-swift's "3/150")."""
    marker = record.get("global_step/max_steps")
    if isinstance(marker, str) and "/" in marker:
        tail = marker.split("/", 1)[1]
        if tail.isdigit():
            return int(tail)
    return None


def iter_log_records(path: str | Path) -> Iterator[dict]:
    """Every JSON object in a trainer log. A truncated LAST line (a run killed mid-write, or one still
    writing) is skipped; a bad line anywhere else is an error naming the file and line."""
    for _, record in iter_objects(path, "trainer log record", damaged="last"):
        yield record


def read_trainer_log(path: str | Path) -> list[dict]:
    """Per-step records of one trainer log, each with an int `step` key."""
    steps = []
    for record in iter_log_records(path):
        step = step_of(record)
        if step is not None:
            steps.append({**record, "step": step})
    return steps


def find_trainer_logs(root: str | Path, since: float | None = None) -> list[Path]:
    """All trainer logs under `root` (one per ms-swift run version), oldest first; with `since`
    (a time.time() value) only those written to since then."""
    root = Path(root)
    if not root.is_dir():
        return []
    logs = [p for p in root.rglob(LOG_NAME) if p.is_file() and "telemetry" not in p.relative_to(root).parts]
    if since is not None:
        logs = [p for p in logs if p.stat().st_mtime >= since]
    return sorted(logs, key=lambda p: (p.stat().st_mtime, str(p)))


def collect_steps(root: str | Path, since: float | None = None) -> list[dict]:
    """Per-step records of every run under `root` (written to since `since`), merged by step.

    A resumed run repeats the steps after its checkpoint; the later run's record wins, so the
    result is the history of the model that was finally kept.
    """
    merged: dict[int, dict] = {}
    for log in find_trainer_logs(root, since):
        for record in read_trainer_log(log):
            merged[record["step"]] = record
    return [merged[k] for k in sorted(merged)]


def step_row(record: dict) -> dict:
    """One CSV row (STEP_COLUMNS) from a per-step record; absent metrics are None."""
    row = {}
    for column, key in STEP_COLUMNS.items():
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            value = None
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        row[column] = value
    return row


def write_steps_csv(records: Iterable[dict], path: str | Path) -> Path:
    """Write per-step metrics as CSV (columns STEP_COLUMNS, blank = not logged)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(STEP_COLUMNS))
        writer.writeheader()
        for record in records:
            writer.writerow({k: ("" if v is None else v) for k, v in step_row(record).items()})
    return path


def read_steps_csv(path: str | Path) -> list[dict]:
    """The rows of a steps CSV back as dicts of floats (step as int, blanks as None)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            row = {k: (float(v) if v not in ("", None) else None) for k, v in raw.items()}
            row["step"] = int(row["step"]) if row.get("step") is not None else None
            rows.append(row)
    return rows


class LogFollower:
    """Tails every trainer log under a folder while a run writes it.

    `poll()` returns the per-step records appended since the last call. Partial lines stay
    buffered until their newline arrives, so a record is never read half-written.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._tails: dict[Path, JsonlTail] = {}
        self.max_steps: int | None = None
        self.records: list[dict] = []  # every other record (model info, run summary)

    def _tail(self, log: Path) -> JsonlTail:
        if log not in self._tails:
            self._tails[log] = JsonlTail(log)
        return self._tails[log]

    def skip_existing(self) -> None:
        """Start from the current end of every existing log (an earlier run's lines are not new)."""
        for log in find_trainer_logs(self.root):
            self._tail(log).skip_existing()

    def poll(self) -> list[dict]:
        new: list[dict] = []
        for log in find_trainer_logs(self.root):
            for _, record in self._tail(log).read():
                if not isinstance(record, dict):
                    continue  # a bad line: the post-run reader reports it with its line number
                step = step_of(record)
                if step is None:
                    self.records.append(record)
                    continue
                self.max_steps = max_steps_of(record) or self.max_steps
                new.append({**record, "step": step})
        return new
