"""One run per output folder: `with dir_lock(path, "rlwhf launch"): ...`.

The lock is the file `<dir>/.rlwhf.lock`, created atomically and exclusively (a hard link of a fully
written temporary file, so nobody ever reads a half-written lock), holding the owner's pid, host and
process start time. A second run on the same folder refuses at once, naming the holder. A lock whose
owner is gone (killed, even with SIGKILL, so it never cleaned up) is stale: the next run takes it over.

Staleness is only decided for locks written on this host (the pid says nothing elsewhere): the pid no
longer exists, or it exists but started at another time (the pid was reused). Take-overs are serialised
by an advisory `flock` on `<dir>/.rlwhf.lock.guard` and re-check the lock under it, so two runs that find
the same stale lock cannot both win, and none removes a lock that a third run has just created.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> with dir_lock(d, "doctest") as lock:
...     lock.path.name, read_holder(lock.path)["pid"] == os.getpid()
('.rlwhf.lock', True)
>>> read_holder(Path(d) / LOCK_NAME) is None
True
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

from rlwhf.errors import RlwhfError

LOCK_NAME = ".rlwhf.lock"
# A lock file younger than this that cannot be read yet may be mid-creation (the O_EXCL fallback path).
_YOUNG_S = 10.0


class DirInUse(RlwhfError):
    """Another live run holds the folder's lock."""

    def __init__(self, message: str, holder: dict):
        super().__init__(message, exit_code=2)
        self.holder = holder


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None when there is no such process.

    >>> process_start_time(os.getpid()) > 0
    True
    """
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:  # alive, owned by someone else: its start time is unknown
        return -1.0


def read_holder(path: Path) -> dict | None:
    """The lock's content, or None when there is no lock; {} when it cannot be read as a lock."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _is_stale(holder: dict, path: Path) -> bool:
    """True when the lock's owner is certainly gone (only decidable for a lock written on this host)."""
    if not holder:  # unreadable: stale once it is old enough not to be a lock being written right now
        try:
            return time.time() - path.stat().st_mtime > _YOUNG_S
        except FileNotFoundError:
            return True
    if holder.get("host") != socket.gethostname():
        return False
    try:
        pid = int(holder["pid"])
    except (KeyError, TypeError, ValueError):
        return True
    started = process_start_time(pid)
    if started is None:
        return True
    recorded = holder.get("start_time")
    # A live pid with another start time is a reused pid; -1.0 = alive but not ours to inspect.
    return started >= 0 and isinstance(recorded, (int, float)) and abs(started - recorded) > 1.0


def _describe(holder: dict) -> str:
    if not holder:
        return "a run whose lock cannot be read yet"
    what = holder.get("command") or "rlwhf"
    return (f"pid {holder.get('pid')} on host {holder.get('host')} (`{what}`, since "
            f"{holder.get('acquired_at', '?')})")


def _create(path: Path, content: bytes) -> bool:
    """Create the lock with `content` if no lock exists; False when one does."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    tmp.write_bytes(content)
    try:
        os.link(tmp, path)  # atomic and exclusive, and the content is complete when it appears
        return True
    except FileExistsError:
        return False
    except OSError:  # a filesystem without hard links: exclusive create, then one write
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
        return True
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _guard(path: Path):
    """Serialise take-overs of `path` between processes (released by the kernel if we die)."""
    import fcntl

    with open(path.with_name(path.name + ".guard"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class DirLock:
    """The lock of one folder, held by this process until `release()`."""

    def __init__(self, directory: str | Path, command: str = "rlwhf"):
        self.dir = Path(directory)
        self.path = self.dir / LOCK_NAME
        self.command = command
        self.held = False
        self.took_over: dict | None = None  # the stale holder this lock replaced, if any

    def _content(self) -> dict:
        pid = os.getpid()
        return {"pid": pid, "host": socket.gethostname(), "start_time": process_start_time(pid),
                "command": self.command,
                "acquired_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}

    def acquire(self) -> DirLock:
        """Take the lock, or raise DirInUse naming the live holder."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RlwhfError(f"{self.dir}: cannot create the output folder: {exc.strerror}") from None
        mine = self._content()
        content = (json.dumps(mine) + "\n").encode()
        for _ in range(50):
            try:
                created = _create(self.path, content)
            except OSError as exc:
                raise RlwhfError(f"{self.dir}: cannot write the lock file {LOCK_NAME}: {exc.strerror}") from None
            if created:
                self.held, self._mine = True, mine
                return self
            holder = read_holder(self.path)
            if holder is None:  # released between our attempt and the read: try again
                continue
            if not _is_stale(holder, self.path):
                if not holder:  # being written (or died mid-write a moment ago): look again shortly
                    time.sleep(0.05)  # 50 tries: 2.5 s, well below _YOUNG_S
                    continue
                raise DirInUse(f"{self.dir} is in use by another rlwhf run: {_describe(holder)}. "
                               "Wait for it to finish, stop it, or use another output folder", holder)
            with _guard(self.path):
                # Re-read under the guard: remove the lock only if it is still the stale one we saw.
                if read_holder(self.path) == holder and _is_stale(holder, self.path):
                    self.path.unlink(missing_ok=True)
                    self.took_over = holder
                    logging.getLogger("rlwhf").info(
                        "%s: taking over a stale lock of %s (no longer running)", self.dir, _describe(holder))
        holder = read_holder(self.path) or {}
        raise DirInUse(f"{self.dir}: could not take the lock {self.path} ({_describe(holder)}); "
                       "if no run uses this folder, delete that file", holder)

    def release(self) -> None:
        """Remove the lock if it is still ours (never another run's)."""
        if not self.held:
            return
        self.held = False
        if read_holder(self.path) == self._mine:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def dir_lock(directory: str | Path, command: str = "rlwhf") -> DirLock:
    """A context manager holding `directory`'s lock; raises DirInUse when another live run holds it."""
    return DirLock(directory, command)
