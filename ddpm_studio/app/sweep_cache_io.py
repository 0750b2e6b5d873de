"""Reading and writing the sweep cache file (app/sweep.py's `SweepCache`), whatever is found on disk.

The file is {format, checkpoint, sha256, entries: {key: entry}}. A file that is absent, of another format or of
another checkpoint is an empty cache; one that is damaged (not JSON, too large, entries not an object) is an
empty cache too, with a warning naming it (it is rewritten by the next store). Entries are checked when they
are used (`cell_problem`, `floor_problem`): a malformed one is a miss. A store re-reads the file under an
exclusive lock (`<file>.lock`, fcntl.flock) and merges, so two sweeps of one checkpoint at once keep each
other's entries; the write itself is atomic.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ddpm_studio.atomic import atomic_write_text, storage_error
from ddpm_studio.errors_text import one_line
from ddpm_studio.training.run_files import read_json_file

try:
    import fcntl
except ImportError:  # Windows: stores are not merged under a lock there
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

CACHE_LIMIT_BYTES = 64 << 20  # ~100 bytes a cell: far more cells than any sweep makes
REQUIRED_METRICS = ("swd", "precision", "recall")  # what the table and the plot show of every cell and the floor


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _metrics_problem(metrics: Any) -> str | None:
    if not isinstance(metrics, dict):
        return f"metrics must be an object, got {type(metrics).__name__}"
    missing = [name for name in REQUIRED_METRICS if name not in metrics]
    if missing:
        return f"metrics lack {missing[0]}"
    bad = next((k for k, v in metrics.items() if not isinstance(k, str) or not _finite(v)), None)
    return f"metric {str(bad)[:40]} is not a finite number" if bad is not None else None


def cell_problem(entry: Any) -> str | None:
    """Why a cached cell cannot be used, else None."""
    if not isinstance(entry, dict):
        return f"a cell must be an object, got {type(entry).__name__}"
    if not _finite(entry.get("seconds")):
        return "seconds is not a number"
    errors = entry.get("errors", {})  # the metrics' bootstrap errors; absent in caches written before them
    if not isinstance(errors, dict) or not all(isinstance(k, str) and _finite(v) for k, v in errors.items()):
        return "errors must map metric names to finite numbers"
    return _metrics_problem(entry.get("metrics"))


def floor_problem(entry: Any) -> str | None:
    """Why a cached floor row cannot be used, else None."""
    return _metrics_problem(entry)


def _entries(path: Path, cache_format: str, sha: str, *, warn: bool) -> dict[str, Any]:
    try:
        data = read_json_file(path, CACHE_LIMIT_BYTES)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        if warn:
            log.warning("sweep cache %s cannot be used (%s); it is ignored and will be rewritten", path,
                        one_line(exc))
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        if warn:
            log.warning("sweep cache %s is not a sweep cache; it is ignored and will be rewritten", path)
        return {}
    if data.get("format") != cache_format or data.get("sha256") != sha:
        return {}  # another version's or another checkpoint's file: not ours to mention
    return {k: v for k, v in data["entries"].items() if isinstance(k, str)}


def read_cache_entries(path: Path, cache_format: str, sha: str) -> dict[str, Any]:
    """The entries of the cache file at `path` ({} if absent, foreign or damaged; damaged ones are warned of)."""
    return _entries(Path(path), cache_format, sha, warn=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `<path>.lock` for one read-merge-write (no lock where flock is missing)."""
    if fcntl is None:
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                 | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def merge_cache_entries(path: Path, cache_format: str, sha: str, checkpoint: Path, new: dict[str, Any],
                        known: dict[str, Any]) -> dict[str, Any]:
    """Write `new` into the cache file, merged with what is on disk now (other sweeps' entries) and `known`;
    returns the merged entries. OSError (a StorageError for a read-only folder or a full disk) if it cannot."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        entries = {**known, **_entries(path, cache_format, sha, warn=False), **new}
        atomic_write_text(path, json.dumps({"format": cache_format, "checkpoint": str(checkpoint), "sha256": sha,
                                            "entries": entries}, indent=1), what="the sweep cache")
    return entries


def describe_write_failure(exc: OSError, path: Path) -> str:
    """One line: why the cache at `path` could not be written."""
    reason = storage_error(exc, Path(path).parent, what="the sweep cache")
    text = str(reason) if reason is not exc else f"{exc.strerror or one_line(exc)}"
    return f"{text} ({path})" if str(path) not in text else text
