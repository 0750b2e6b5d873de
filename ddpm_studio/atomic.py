"""Atomic, durable file writes: the bottom layer every writer of user files goes through.

`atomic_write` writes a temporary file beside the target, flushes and fsyncs it, gives it the mode a plain
open() would (0o666 minus the umask) and renames it over the target (os.replace), then fsyncs the folder: a
crash or kill leaves either the old file or the new one, never a partial one, and a failed write leaves no
temporary file behind.

`atomic_append` adds lines to a log-like file (history.jsonl) in one write, fsynced; if the write fails
part-way (disk full, file size limit) the file is cut back to its old length, so no torn line is left.

A write that fails for want of room or permission (disk full, quota, file size limit, read-only folder) is
re-raised as `StorageError`, a one-line reason naming the folder and the free space, which the faces print
as is. Other OSErrors pass through unchanged.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

TMP_MARKER = ".tmp-"  # temporary files are named ".<target name>.tmp-<8 hex>"
MB = 1024 * 1024
NAME_MAX = 255  # bytes of one file name on the usual file systems

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_TOO_LARGE = {errno.EFBIG}  # RLIMIT_FSIZE (Python ignores SIGXFSZ, so the write fails with EFBIG)
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}


class StorageError(OSError):
    """A write refused by the storage itself (no space, size limit, read-only); its str() is one line."""

    def __init__(self, message: str, *, errno_: int | None = None, folder: Path | None = None) -> None:
        super().__init__(errno_ or 0, message)
        self.message, self.folder = message, folder

    def __str__(self) -> str:
        return self.message


def free_mb(folder: Path) -> float:
    """Free space (MB) available to this user on the file system holding `folder` (nan if unknown)."""
    for candidate in (Path(folder), *Path(folder).parents):
        try:
            return shutil.disk_usage(candidate).free / MB
        except OSError:
            continue
    return float("nan")


def storage_error(exc: OSError, folder: Path, *, what: str = "the file", needs_bytes: int | None = None) -> OSError:
    """`exc` as a one-line StorageError when the storage refused the write, else `exc` itself."""
    if isinstance(exc, StorageError):
        return exc
    need = f", {what} needs ~{needs_bytes / MB:.1f} MB" if needs_bytes is not None else ""
    if exc.errno in _NO_SPACE:
        message = f"no space left on {folder} ({free_mb(folder):.0f} MB free{need})"
    elif exc.errno in _TOO_LARGE:
        message = f"the file size limit was reached writing to {folder} ({what} is too large for it{need})"
    elif exc.errno in _READ_ONLY:
        message = f"cannot write to {folder}: it is read-only or not writable ({os.strerror(exc.errno)})"
    else:
        return exc
    return StorageError(message, errno_=exc.errno, folder=folder)


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (os.umask only sets and returns)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set-and-restore (briefly process-wide, as every umask read must be)
    os.umask(mask)
    return mask


def temporary_path(path: Path) -> Path:
    """A fresh temporary name beside `path` (hidden, recognisable by TMP_MARKER), never longer than a file name
    may be (a target name near the 255-byte limit must not fail for its temporary name's sake)."""
    suffix = f"{TMP_MARKER}{uuid.uuid4().hex[:8]}"
    name = path.name
    while len(f".{name}{suffix}".encode()) > NAME_MAX:
        name = name[:-1]
    return path.with_name(f".{name}{suffix}")


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:  # nothing was created (e.g. the name was refused): nothing to remove
        pass


def atomic_write(path: Path, write: Callable[[Path], None], *, what: str = "the file",
                 needs_bytes: int | None = None) -> None:
    """Call `write(tmp)` for a temporary file beside `path`, fsync it, and rename it over `path`.

    The file gets the mode a plain open() would give it (0o666 minus the umask), whatever the writer did
    (a private 0600 temporary file must not become a private checkpoint). On failure the temporary file is
    removed and `path` is untouched; a storage refusal becomes StorageError (`what`/`needs_bytes` word it).
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            f.flush()
            if os.name == "posix":
                os.fchmod(f.fileno(), 0o666 & ~current_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        if exc.filename is not None and str(exc.filename) == str(tmp):  # name the user's file, not our temporary
            exc.filename, exc.filename2 = str(path), None
        raise storage_error(exc, path.parent, what=what, needs_bytes=needs_bytes) from exc
    except BaseException:
        _discard(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes, *, what: str = "the file", needs_bytes: int | None = None) -> None:
    """Atomically replace `path` with `data` (serialised in memory first, so a full disk is a clean OSError)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, write, what=what, needs_bytes=len(data) if needs_bytes is None else needs_bytes)


def atomic_write_text(path: Path, text: str, *, what: str = "the file") -> None:
    """Atomically replace a small text file (config.json, history.jsonl)."""
    atomic_write_bytes(path, text.encode("utf-8"), what=what)


def atomic_append(path: Path, lines: Iterable[str], *, what: str = "the history") -> None:
    """Append `lines` (each ending in a newline) to `path` in one fsynced write; all or nothing.

    A write that fails part-way is cut back to the file's old length, so a reader never sees a torn line
    from a full disk (a kill mid-write can still tear the last line; readers skip it).
    """
    path = Path(path)
    data = "".join(lines).encode("utf-8")
    if not data:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise storage_error(exc, path.parent, what=what, needs_bytes=len(data)) from exc
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass
            raise storage_error(exc, path.parent, what=what, needs_bytes=len(data)) from exc
    finally:
        os.close(fd)
