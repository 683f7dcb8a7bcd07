"""Fast, lossless JSONL reading and writing: the one JSONL reader and writer of rlwhf.

Lines are read as bytes, so nothing about a bad line is lost before it is judged: a UTF-8 BOM
and CRLF endings are tolerated, blank lines are counted (they hold no row), and every other
line either parses to a value or yields a `RowError` naming the rule it broke (invalid UTF-8,
invalid JSON, a truncated last line, an over-long line). Rows are written with msgspec's encoder
(a base dependency), compact and UTF-8.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

import msgspec.json

from rlwhf.data.schema import RowError
from rlwhf.errors import RlwhfError

BOM = b"\xef\xbb\xbf"
# A row longer than this is almost certainly a dump, not a training example (10 MB of prompt is
# millions of tokens); 0 disables the limit.
DEFAULT_MAX_LINE_BYTES = 1 << 20

_encoder = msgspec.json.Encoder()
dumps = _encoder.encode  # one JSON document as compact UTF-8 bytes (no newline)


@dataclass
class LineStats:
    """What the reader saw besides rows: reported by the gate so nothing passes unnoticed.

    Counts are complete; the line-number lists keep the first `KEEP_LINES` only (bounded memory).
    """

    lines: int = 0
    blank: int = 0
    blank_lines: list[int] = field(default_factory=list)
    crlf_lines: int = 0
    bom: int = 0
    bom_lines: list[int] = field(default_factory=list)

    def note_blank(self, lineno: int) -> None:
        self.blank += 1
        if len(self.blank_lines) < KEEP_LINES:
            self.blank_lines.append(lineno)

    def note_bom(self, lineno: int) -> None:
        self.bom += 1
        if len(self.bom_lines) < KEEP_LINES:
            self.bom_lines.append(lineno)


KEEP_LINES = 20


def check_input_path(path: str | Path) -> Path:
    """The path as a readable file, or RlwhfError (exit 2) saying why not."""
    p = Path(path)
    if p.is_dir():
        raise RlwhfError(f"{p}: is a directory, not a JSONL file")
    if not p.exists():
        raise RlwhfError(f"{p}: no such file")
    if not os.access(p, os.R_OK):
        raise RlwhfError(f"{p}: not readable (permission denied)")
    return p


def open_input(path: str | Path) -> BinaryIO:
    """A binary handle on `path` ("-" = stdin)."""
    if str(path) == "-":
        return sys.stdin.buffer
    p = check_input_path(path)
    try:
        return open(p, "rb", buffering=1 << 20)
    except OSError as exc:
        raise RlwhfError(f"{p}: cannot open: {exc.strerror}") from None


CHUNK = 1 << 20
_SPACE = 32


def iter_lines(fh: BinaryIO, stats: LineStats | None = None) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes without BOM/CR/LF, ended with a newline) for each non-blank line.

    Reads 1 MiB blocks and splits them on b"\n" in C; a line longer than a block is gathered
    from its pieces, so a single 10 MB line costs one join, and memory stays one block per row
    count (flat for any input size).
    """
    stats = stats if stats is not None else LineStats()
    blank, bom = stats.note_blank, stats.note_bom
    read = getattr(fh, "read1", fh.read)
    lineno = crlf = 0
    pending: list[bytes] = []  # the pieces of a line still waiting for its newline
    while True:
        chunk = read(CHUNK)
        if not chunk:
            break
        lines = chunk.split(b"\n")
        if len(lines) == 1:
            pending.append(chunk)
            continue
        if pending:
            pending.append(lines[0])
            lines[0] = b"".join(pending)
        last = lines.pop()
        pending = [last] if last else []
        for raw in lines:
            lineno += 1
            if raw and raw[-1] == 13:
                raw = raw[:-1]
                crlf += 1
            if raw and raw[0] == 0xEF and raw[:3] == BOM:
                raw = raw[3:]
                bom(lineno)
            if not raw or (raw[0] <= _SPACE and raw.isspace()):
                blank(lineno)
                continue
            yield lineno, raw, True
    if pending:  # the last line had no newline
        lineno += 1
        raw = b"".join(pending)
        if raw[:3] == BOM:
            raw = raw[3:]
            bom(lineno)
        if raw.strip():
            yield lineno, raw, False
        else:
            blank(lineno)
    stats.lines = lineno
    stats.crlf_lines = crlf


def parse_line(raw: bytes, terminated: bool = True, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Any:
    """The JSON value of one line, or RowError with the precise reason it has none.

    >>> parse_line(b'{"prompt": "hi"')
    Traceback (most recent call last):
    ...
    rlwhf.data.schema.RowError: invalid JSON: Expecting ',' delimiter at column 16
    """
    if max_line_bytes and len(raw) > max_line_bytes:
        raise RowError("line too long", f"{len(raw)} bytes, over the {max_line_bytes}-byte limit (--max-line-bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RowError("invalid UTF-8", f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if not terminated:
            raise RowError("truncated last line",
                           f"no newline at end of file and the JSON is incomplete ({exc.msg} at column {exc.colno})"
                           ) from None
        raise RowError("invalid JSON", f"{exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise RowError("invalid JSON", "nested too deeply") from None
    if "\\ud" in text or "\\uD" in text:  # rare: only then can a string hold an unpaired surrogate
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            # Valid JSON, but not text: no UTF-8 file or tokenizer can hold it.
            raise RowError("invalid Unicode", "a \\uD800-\\uDFFF escape without its surrogate pair") from None
    return value


def raw_text(raw: bytes) -> str:
    """The line as text for a quarantine row; undecodable bytes become \\xNN escapes."""
    return raw.decode("utf-8", "backslashreplace")


def iter_jsonl(path: str | Path, max_line_bytes: int = 0) -> Iterator[Any]:
    """Every JSON value in a JSONL file; a bad line raises RlwhfError naming file, line and rule.

    Blank lines, a BOM and CRLF endings are accepted.
    """
    with open_input(path) as fh:
        for lineno, raw, terminated in iter_lines(fh):
            try:
                yield parse_line(raw, terminated, max_line_bytes)
            except RowError as err:
                raise RlwhfError(f"{path}:{lineno}: {err}") from None


FLUSH_BYTES = 1 << 20


class JsonlWriter:
    """Writes JSONL to a temp file beside `path` and moves it into place on close, so a crash
    never leaves a half-written output where a complete one was ("-" = stdout)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.count = 0
        self._buf = bytearray()
        if self.path == "-":
            self._fh = sys.stdout.buffer
            self._tmp = None
            return
        target = Path(self.path)
        if target.is_dir():
            raise RlwhfError(f"{target}: is a directory; give an output file name")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        self._fh = os.fdopen(fd, "wb", buffering=0)

    def write(self, obj: Any) -> None:
        buf = self._buf
        _encoder.encode_into(obj, buf, -1)  # in place: no bytes object per row
        buf.append(10)
        self.count += 1
        if len(buf) >= FLUSH_BYTES:
            self._flush()

    def write_raw(self, raw: bytes) -> None:
        """A line that is already JSON (the gate copies valid rows verbatim)."""
        buf = self._buf
        buf += raw
        buf.append(10)
        self.count += 1
        if len(buf) >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._fh.write(self._buf)
            self._buf.clear()

    def close(self) -> None:
        self._flush()
        if self._tmp is None:
            self._fh.flush()
            return
        self._fh.close()
        os.replace(self._tmp, self.path)
        self._tmp = None

    def abort(self) -> None:
        if self._tmp is not None:
            self._fh.close()
            os.unlink(self._tmp)
            self._tmp = None

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def count_rows(path: str | Path) -> int:
    """Non-blank lines of a JSONL file (rows written by `write_jsonl` and the rlwhf commands).

    >>> import tempfile, os; p = os.path.join(tempfile.mkdtemp(), "r.jsonl"); _ = write_jsonl(p, [{"a": 1}, {}])
    >>> count_rows(p)
    2
    """
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> int:
    """Write rows as JSONL (atomically); returns how many."""
    with JsonlWriter(path) as out:
        for row in rows:
            out.write(row)
        return out.count


def append_jsonl(path: str | Path, obj: Any, default=None) -> None:
    """Append one record to a log that readers may tail while it grows (`JsonlTail`, `iter_objects`
    with `damaged`): one write of one whole line. The stdlib encoder, so a NaN metric stays NaN;
    `default` converts what JSON cannot hold (e.g. `float` for numpy or tensor scalars).

    >>> append_jsonl("log.jsonl", {"step": 1, "loss": float("nan")}); Path("log.jsonl").read_text()
    '{"step": 1, "loss": NaN}\\n'
    """
    line = (json.dumps(obj, ensure_ascii=False, default=default) + "\n").encode("utf-8")
    with open(path, "ab") as fh:
        fh.write(line)


def write_json(path: str | Path, obj: Any) -> None:
    """A small JSON document (reports), pretty-printed, written atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)


DAMAGED = ("raise", "last", "skip")


def iter_objects(path: str | Path, what: str = "row", damaged: str = "raise") -> Iterator[tuple[str, dict]]:
    """("file:line", object) for each non-blank line; anything but a JSON object is an RlwhfError.

    `damaged` says what a line that does not parse is, for logs that a writer appends to:
    "raise" (the default) refuses it; "last" skips a last line that has no newline yet (a writer still
    at work, or killed mid-line) and refuses any other; "skip" also skips a bad line anywhere (a killed
    run's cut line that a resumed run then appended to). Each skipped line is logged at debug level.

    >>> _ = Path("live.jsonl").write_bytes(b'{"step": 1}\\n{"step": 2, "lo')
    >>> [obj for _, obj in iter_objects("live.jsonl", damaged="last")]
    [{'step': 1}]
    """
    if damaged not in DAMAGED:
        raise ValueError(f"damaged must be one of {DAMAGED}, got {damaged!r}")
    with open_input(path) as fh:
        for lineno, raw, terminated in iter_lines(fh):
            where = f"{path}:{lineno}"
            try:
                obj = parse_line(raw, terminated)
            except RowError as err:
                if damaged == "skip" or (damaged == "last" and not terminated):
                    logging.getLogger("rlwhf").debug("%s: skipped a damaged line (%s)", where, err)
                    continue
                raise RlwhfError(f"{where}: {err}") from None
            if not isinstance(obj, dict):
                raise RlwhfError(f"{where}: a {what} must be a JSON object")
            yield where, obj


class JsonlTail:
    """The lines another process appends to a JSONL file, as they arrive.

    Each `read()` returns (line number, value) for the lines completed since the last call, where a
    line that does not parse has a `RowError` for its value; a last line still without its newline
    waits for it. A file that does not exist yet reads as empty.

    >>> tail = JsonlTail("grow.jsonl")
    >>> _ = Path("grow.jsonl").write_bytes(b'{"step": 1}\\n{"ste')
    >>> tail.read()
    [(1, {'step': 1})]
    >>> with open("grow.jsonl", "ab") as fh:
    ...     _ = fh.write(b'p": 2}\\nnot json\\n')
    >>> [(n, str(v)) for n, v in tail.read()]
    [(2, "{'step': 2}"), (3, 'invalid JSON: Expecting value at column 1')]
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.offset = 0  # bytes consumed, the partial line included
        self.lines = 0  # complete lines consumed
        self._partial = b""

    def skip_existing(self) -> None:
        """Start at the file's current end: lines already there are not new."""
        try:
            with open(self.path, "rb") as fh:
                data = fh.read()
        except OSError:
            return
        self.offset = len(data)
        self.lines = data.count(b"\n")
        self._partial = data[data.rfind(b"\n") + 1:]

    def read(self) -> list[tuple[int, Any]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except OSError:
            return []
        self.offset += len(chunk)
        data = self._partial + chunk
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        out: list[tuple[int, Any]] = []
        for lineno, raw, _ in iter_lines(io.BytesIO(data[:end])):
            try:
                out.append((self.lines + lineno, parse_line(raw)))
            except RowError as err:
                out.append((self.lines + lineno, err))
        self.lines += data.count(b"\n", 0, end)
        return out
