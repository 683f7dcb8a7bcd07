"""Run one training attempt as a supervised child process.

The child's stdout/stderr go to a log file (no pipes: nothing to drain, no deadlock). Every
`interval` seconds the supervisor samples the process tree's memory, enforces the RSS cap, and
hands new trainer-log records to a callback (progress bar, telemetry). When the child ends, the
exit status and the log's tail say whether it ran out of memory.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rlwhf.telemetry.logs import LogFollower
from rlwhf.telemetry.memory import MemoryTrace, kill_tree

# Messages torch / CUDA / MPS / NPU / the allocator print when memory runs out.
OOM_PATTERNS = [
    r"CUDA out of memory",
    r"torch\.(cuda\.)?OutOfMemoryError",
    r"\bOutOfMemoryError\b",
    r"MPS backend out of memory",
    r"NPU out of memory",
    r"HIP out of memory",
    r"DefaultCPUAllocator: (can't allocate memory|not enough memory)",
    r"CUBLAS_STATUS_ALLOC_FAILED",
    r"\bRuntimeError: .*out of memory",
    r"\bMemoryError\b",
]
_OOM_RE = re.compile("|".join(OOM_PATTERNS))
_SIGKILL_RE = re.compile(r"Signal 9 \(SIGKILL\) received by PID")
OOM_REASONS = ("oom", "killed", "rss_cap")


@dataclass
class AttemptResult:
    returncode: int
    reason: str  # ok | oom (message) | killed (SIGKILL from outside, e.g. the kernel) | rss_cap | error
    detail: str
    log_path: Path
    wall_s: float
    peak_rss_mb: float
    steps_seen: list[int] = field(default_factory=list)

    @property
    def out_of_memory(self) -> bool:
        return self.reason in OOM_REASONS


def classify(returncode: int, log_tail: str, capped: bool) -> tuple[str, str]:
    """(reason, detail) for a finished child.

    >>> classify(1, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", False)[0]
    'oom'
    >>> classify(-9, "", False)[0]
    'killed'
    >>> classify(1, "ValueError: bad flag", False)[0]
    'error'
    """
    if returncode == 0:
        return "ok", "finished"
    if capped:
        return "rss_cap", "killed by rlwhf: process-tree RSS went over --max-rss-gb"
    match = _OOM_RE.search(log_tail)
    if match:
        line = next((ln for ln in log_tail.splitlines() if _OOM_RE.search(ln)), match.group(0))
        return "oom", line.strip()[:300]
    # How a SIGKILL (the kernel's OOM killer) reaches us: -9 when it hit our child; 137 (128 + 9) from a
    # shell; 247 (-9 & 0xFF) from a launcher that passes its child's status to sys.exit, as the `swift`
    # CLI does; torchrun exits 1 and reports "Signal 9 (SIGKILL) received by PID ...".
    if returncode in (-signal.SIGKILL, 128 + signal.SIGKILL, -signal.SIGKILL & 0xFF) or _SIGKILL_RE.search(log_tail):
        return "killed", f"killed by SIGKILL (exit {returncode}): the kernel's out-of-memory killer, most likely"
    return "error", f"exit status {returncode}"


def read_tail(path: Path, limit: int = 64 * 1024) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - limit))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL if the supervisor dies, so no orphan keeps training."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_attempt(
    argv: list[str],
    env: dict[str, str],
    log_path: Path,
    trace: MemoryTrace,
    follower: LogFollower,
    on_steps: Callable[[list[dict]], None],
    attempt: int,
    max_rss_bytes: int | None = None,
    interval: float = 0.5,
    cwd: str | None = None,
) -> AttemptResult:
    """Run `argv` to completion under supervision (memory trace, RSS cap, log following)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    capped = False
    peak = 0
    steps: list[int] = []
    with open(log_path, "ab") as log_fh:
        log_fh.write(f"$ {' '.join(argv)}\n".encode())
        log_fh.flush()
        try:
            proc = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if os.name == "posix" else None,
            )
        except FileNotFoundError:
            return AttemptResult(127, "error", f"command not found: {argv[0]}", log_path, 0.0, 0.0)
        try:
            while True:
                finished = proc.poll() is not None
                if not finished:
                    rss = trace.sample(proc.pid, attempt)
                    peak = max(peak, rss)
                    if max_rss_bytes and rss > max_rss_bytes and not capped:
                        capped = True
                        kill_tree(proc.pid)
                new = follower.poll()  # after the child has exited too: its last lines count
                if new:
                    steps += [r["step"] for r in new]
                    on_steps(new)
                if finished:
                    break
                try:
                    proc.wait(timeout=interval)
                except subprocess.TimeoutExpired:
                    pass
        except BaseException:
            # Ctrl-C or an error in the supervisor: never leave the trainer running unsupervised.
            kill_tree(proc.pid)
            proc.wait()
            raise
    wall = time.monotonic() - t0
    reason, detail = classify(proc.returncode, read_tail(log_path), capped)
    if capped:
        detail += f" ({max_rss_bytes / 2**30:.2f} GB)"
    return AttemptResult(proc.returncode, reason, detail, log_path, wall, peak / 2**20, steps)
