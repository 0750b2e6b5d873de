"""Reading the small files of a run folder, whatever is found there: the one way runs.py, the quality monitor
and checkpoint.py read config.json, best.json, timestep_loss.json, history.jsonl and metrics.jsonl.

Run folders are shared and hand-edited, so nothing read here may stop the app or the listing of other runs:
a file that is not a regular file (a FIFO would block the reader for ever) or larger than MAX_RUN_FILE_BYTES
(a 1 GB sparse config.json) is refused in one line before it is read; JSON too deeply nested for the parser
(RecursionError) is "not valid JSON". Line logs are streamed: a torn, over-long, non-JSON or non-object line is
skipped, and each record is checked by the caller's `check` (a wrongly typed field skips that record with one
warning naming the file, as torn lines are).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ddpm_studio.errors_text import one_line

log = logging.getLogger(__name__)

MAX_RUN_FILE_BYTES = 1 << 20  # config.json, best.json, timestep_loss.json: ~1 KB each in practice
MAX_LINE_BYTES = 64 << 10  # one history / metrics record
_CHUNK = 1 << 16


class RunFileError(ValueError):
    """A run file that cannot be used (not a regular file, too large, not JSON); str() is one line."""


def _open_regular(path: Path) -> int:
    """A read-only descriptor of `path` (FileNotFoundError if absent); RunFileError unless a regular file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunFileError(f"{path.name} is not a regular file")
    return fd


def read_small_text(path: Path, limit: int = MAX_RUN_FILE_BYTES) -> str:
    """The text of a small run file; FileNotFoundError if absent, OSError if unreadable, RunFileError if it is
    not a regular file or larger than `limit` bytes (refused before it is read)."""
    fd = _open_regular(Path(path))
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise RunFileError(f"{Path(path).name} is too large ({size:,} bytes; a run file holds at most "
                               f"{limit:,})")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise RunFileError(f"{Path(path).name} is too large (more than {limit:,} bytes)")
    return data.decode("utf-8", errors="replace")


def parse_json(text: str, name: str) -> Any:
    """json.loads with one error for every way it fails (RunFileError naming `name`): bad syntax, or nesting
    too deep for the parser."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunFileError(f"{name} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise RunFileError(f"{name} is not valid JSON ({one_line(exc, 80)})") from None


def read_json_file(path: Path, limit: int = MAX_RUN_FILE_BYTES) -> Any:
    """The parsed JSON of a small run file (FileNotFoundError if absent; RunFileError / OSError otherwise)."""
    return parse_json(read_small_text(path, limit), Path(path).name)


def _lines(fd: int) -> Iterator[bytes | None]:
    """The lines of a file, streamed; None in place of a line longer than MAX_LINE_BYTES (never held whole)."""
    with os.fdopen(fd, "rb") as f:
        while True:
            line = f.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # skip the rest of the over-long line
                    line = f.readline(_CHUNK)
                yield None
                continue
            yield line


def read_json_lines(path: Path, check: Callable[[dict[str, Any]], str | None] | None = None) -> list[dict[str, Any]]:
    """The JSON-object records of a line log (history.jsonl, metrics.jsonl); [] if it is absent.

    Torn or over-long lines are skipped silently (a kill mid-append leaves one); a record that `check` finds
    wrong (it returns a reason) is skipped with one warning naming the file. A file that is not a regular
    file or cannot be read gives [] with a warning.
    """
    path = Path(path)
    try:
        fd = _open_regular(path)
    except FileNotFoundError:
        return []
    except (OSError, RunFileError) as exc:
        log.warning("%s is not read: %s", path, one_line(exc))
        return []
    records, bad, first_reason = [], 0, ""
    try:
        for number, line in enumerate(_lines(fd), start=1):
            record = _record(line)
            if record is None:
                continue
            reason = check(record) if check is not None else None
            if reason is not None:
                bad, first_reason = bad + 1, first_reason or f"line {number}: {reason}"
                continue
            records.append(record)
    except OSError as exc:
        log.warning("%s is read only in part: %s", path, one_line(exc))
    if bad:
        log.warning("skipped %d unusable record(s) of %s (%s)", bad, path, first_reason)
    return records


def _record(line: bytes | None) -> dict[str, Any] | None:
    if line is None:
        return None
    try:
        record = json.loads(line.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or float (not a bool); NaN and inf included (a diverged loss is a record too)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
