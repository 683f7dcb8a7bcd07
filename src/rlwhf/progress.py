"""Progress bars and log verbosity for long work, in one place.

A bar (tqdm, on stderr) shows only where someone watches: stderr is a terminal and `rlwhf -q` was not
given. `RLWHF_PROGRESS=1` forces bars on (e.g. in a CI log), `RLWHF_PROGRESS=0` off. When off, the helpers
hand back what they were given (`progress(iterable)` is `iterable`, `track_reads(fh)` is `fh`), so a
loop without a bar costs nothing extra. `Tracker` counts work against a total and, where no bar shows,
writes a few log lines instead (a CI log gets lines, never a bar).

>>> list(progress(range(3), desc="doctest", enabled=False))
[0, 1, 2]
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import contextmanager
from typing import Any, BinaryIO, Callable, Iterable, Iterator

LOGGER = "rlwhf"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test harnesses swap it), one line per record."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):  # noqa: D401 - property of StreamHandler
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def configure_logging(verbosity: int | None) -> None:
    """Logging for the `rlwhf` CLI: -1 = quiet (warnings and errors only), 0 = info, 1+ = debug.

    None keeps an earlier setting (a command run from inside another one, as `rlwhf launch` does,
    inherits the outer -q / -v); the first call with None means 0.
    """
    logger = logging.getLogger(LOGGER)
    handler = next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        logger.addHandler(_StderrHandler())
        logger.propagate = False
        verbosity = 0 if verbosity is None else verbosity
    if verbosity is None:
        return
    logger.setLevel(logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO)


def quiet() -> bool:
    """True after `rlwhf -q` (the rlwhf logger set above INFO)."""
    level = logging.getLogger(LOGGER).level
    return level > logging.INFO


def show_progress(flag: bool | None = None) -> bool:
    """Whether to draw a bar: `flag` when given, else RLWHF_PROGRESS, else not -q and stderr is a terminal."""
    if flag is not None:
        return flag
    forced = os.environ.get("RLWHF_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if quiet():
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def bar(total: float | None = None, desc: str = "", unit: str = "it", enabled: bool | None = None, **kwargs):
    """A tqdm bar on stderr (disabled, and silent, when `show_progress(enabled)` says no)."""
    from tqdm import tqdm

    on = show_progress(enabled)
    try:
        width = os.get_terminal_size(sys.stderr.fileno()).columns
    except (AttributeError, OSError, ValueError):
        width = 0
    # A terminal that reports no size (a fresh pseudo-terminal, some CI runners) gets 80 x 24.
    size = {"dynamic_ncols": True} if width else {"ncols": 80, "nrows": 24}
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not on, **size, **kwargs)


def progress(iterable: Iterable, desc: str = "", unit: str = "it", total: float | None = None,
             enabled: bool | None = None) -> Iterable:
    """`iterable` with a bar while it is consumed; `iterable` itself when bars are off."""
    if not show_progress(enabled):
        return iterable
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    return bar(total, desc, unit, enabled=True, iterable=iterable)


@contextmanager
def transformers_bars() -> Iterator[None]:
    """transformers' own bars (loading and writing weights) only where ours show: never in a log file
    or after -q. Needs transformers installed (the callers load models)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    if was and not show_progress():
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


class Tracker:
    """Work counted against a known total: a bar where bars show (`show_progress`), otherwise a line through
    `log` (default: the `rlwhf` logger at INFO, so -q hides it) at each `marks`-th of the way, so a log file
    gets a few lines and never a bar; marks=0: no lines. `update(n, note)` advances it; the note (e.g. the
    loss) goes beside the bar or at the end of the line.

    >>> lines = []
    >>> with Tracker(8, "graded", log=lines.append, marks=4, enabled=False) as steps:
    ...     for _ in range(8):
    ...         steps.update(note="ok")
    >>> [line.split(" (")[0] for line in lines]
    ['graded 2/8 ok', 'graded 4/8 ok', 'graded 6/8 ok', 'graded 8/8 ok']
    """

    def __init__(self, total: int, desc: str, unit: str = "it", log: Callable[[str], Any] | None = None,
                 marks: int = 0, enabled: bool | None = None, bar_desc: str | None = None):
        self.total, self.desc, self.done = total, desc, 0
        self.bar = bar(total, bar_desc or desc, unit, enabled=True) if show_progress(enabled) else None
        self.log = log or logging.getLogger(LOGGER).info
        self.marks = sorted({max(1, round(total * q / marks)) for q in range(1, marks + 1)}) if marks and total else []
        self.started = time.perf_counter()

    def update(self, n: int = 1, note: str = "") -> None:
        before, self.done = self.done, self.done + n
        if self.bar is not None:
            if note:
                self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(n)
        elif self.marks and any(before < m <= self.done for m in self.marks):
            elapsed = time.perf_counter() - self.started
            self.log(f"{self.desc} {self.done}/{self.total}{' ' + note if note else ''} ({elapsed:.0f}s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _TrackedReader:
    """A binary file whose reads advance a bar by the bytes read (one update per block, not per row)."""

    def __init__(self, fh: BinaryIO, tqdm_bar):
        self._fh, self._bar = fh, tqdm_bar

    def read1(self, size: int = -1) -> bytes:
        data = (self._fh.read1 if hasattr(self._fh, "read1") else self._fh.read)(size)
        self._bar.update(len(data))
        return data

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._bar.update(len(data))
        return data

    def close(self) -> None:
        self._bar.close()
        if self._fh is not sys.stdin.buffer:  # stdin stays open for whoever reads it next
            self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def track_reads(fh: BinaryIO, desc: str, enabled: bool | None = None) -> BinaryIO:
    """`fh` with a bytes-read bar (total = the file's size when it is a regular file); `fh` when bars are off."""
    if not show_progress(enabled):
        return fh
    total = None
    try:
        import stat

        st = os.fstat(fh.fileno())
        total = st.st_size if stat.S_ISREG(st.st_mode) else None
    except (AttributeError, OSError, ValueError):
        pass
    return _TrackedReader(fh, bar(total, desc, "B", enabled=True, unit_scale=True, unit_divisor=1024))
