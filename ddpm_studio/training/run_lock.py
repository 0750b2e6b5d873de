"""One writer per run: an exclusive lock on a run folder while it trains.

The lock is `<run>/.lock` (a regular file: a symbolic link or a FIFO there is refused in one line, never followed
or waited on), held with fcntl.flock (LOCK_EX | LOCK_NB) on an open descriptor for as long as the
training lasts, and holding "pid host started" so a refused second writer can say who holds it. The kernel
drops a flock when its process dies (even by kill -9), so a lock file left behind by a dead process is stale
by construction: the next writer simply takes it. Where flock is missing (Windows) the PID in the file is
checked instead (a PID on this host that no longer runs is a stale lock, taken over with a log line).

    with RunLock(run.path):        # RunLocked (one line) if another process trains this run
        trainer.run(on_event)
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
import time
from pathlib import Path
from types import TracebackType

from ddpm_studio.atomic import storage_error

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a .lock that is a symbolic link is refused, never written through
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a .lock that is a FIFO must not block the open for ever
_HELD_HERE: set[Path] = set()  # run folders this process holds the lock of (is_locked answers them without flock)


class RunLocked(Exception):
    """Another process is training this run; str() is the one-line reason."""


def _describe(text: str) -> tuple[int | None, str]:
    """(pid, host) from a lock file's content (None, '?' if unreadable)."""
    parts = text.split()
    try:
        return int(parts[0]), parts[1] if len(parts) > 1 else "?"
    except (IndexError, ValueError):
        return None, "?"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class RunLock:
    """An exclusive lock on one run folder; a context manager (or acquire()/release())."""

    def __init__(self, run_path: Path) -> None:
        self.run_path = Path(run_path)
        self.path = self.run_path / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock or raise RunLocked naming the holder's PID and host."""
        if self._fd is not None:
            return self
        fd = self._open()
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise
                    raise RunLocked(self._refusal(os.pread(fd, 256, 0).decode("utf-8", "replace"))) from None
            else:
                self._check_pid_file(fd)
            self._write_stamp(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        _HELD_HERE.add(self.run_path.resolve())
        return self

    def _open(self) -> int:
        """The lock file, opened read-only (no writer is left on the mount) without following a symbolic link
        or waiting on a FIFO; RunLocked (one line) unless it is a regular file."""
        flags = os.O_RDONLY | os.O_CREAT | _NOFOLLOW | _NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o666)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK) or self.path.is_symlink():
                raise RunLocked(self._unusable("a symbolic link (never followed)")) from None
            if exc.errno in (errno.EISDIR, errno.ENXIO, errno.EOPNOTSUPP):
                raise RunLocked(self._unusable("not a regular file")) from None
            raise storage_error(exc, self.run_path, what="the run's lock file") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RunLocked(self._unusable("not a regular file (a FIFO, device or socket)"))
        return fd

    def _write_stamp(self, fd: int) -> None:
        """Write "pid host time" into the locked file itself: the writing descriptor is opened without following
        links and checked to be the locked inode, then closed at once (no writer left on the mount)."""
        stamp = f"{os.getpid()} {socket.gethostname()} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode()
        try:
            writer = os.open(self.path, os.O_WRONLY | _NOFOLLOW | _NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO):
                raise RunLocked(self._unusable("replaced while it was being taken")) from None
            raise storage_error(exc, self.run_path, what="the run's lock file") from None
        try:
            locked, opened = os.fstat(fd), os.fstat(writer)
            if (locked.st_dev, locked.st_ino) != (opened.st_dev, opened.st_ino) or not stat.S_ISREG(opened.st_mode):
                raise RunLocked(self._unusable("replaced while it was being taken"))
            os.ftruncate(writer, 0)
            os.pwrite(writer, stamp, 0)
        except OSError as exc:
            raise storage_error(exc, self.run_path, what="the run's lock file") from None
        finally:
            os.close(writer)

    def _unusable(self, what: str) -> str:
        return (f"run {self.run_path.name} cannot be locked: its {LOCK_FILE} is {what}; remove {self.path} "
                f"and try again")

    def _refusal(self, text: str) -> str:
        pid, host = _describe(text)
        who = f"process {pid} on {host}" if pid is not None else "another process"
        return f"run {self.run_path.name} is being trained by {who}; wait for it to finish or stop it first"

    def _check_pid_file(self, fd: int) -> None:
        """Without flock: refuse if the recorded PID runs on this host (or the host is another one)."""
        pid, host = _describe(os.read(fd, 256).decode("utf-8", "replace"))
        if pid is None or pid == os.getpid():
            return
        if host != socket.gethostname() or _pid_alive(pid):
            raise RunLocked(self._refusal(f"{pid} {host}"))
        log.warning("taking over the stale lock of run %s (process %d is gone)", self.run_path.name, pid)

    def release(self) -> None:
        """Drop the lock (the file stays, naming its last holder: a later writer takes it over)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _HELD_HERE.discard(self.run_path.resolve())
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __del__(self) -> None:
        self.release()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()



def is_locked(run_path: Path) -> bool:
    """True while some process trains the run (holds its lock), for listings: the lock file is never created,
    written or followed. The holder named in the file decides how: this process answers from its own record of
    the locks it holds; one that is gone (on this host) means no lock at all; otherwise a shared flock is tried
    for an instant on a read-only descriptor (a conflict with the holder's exclusive one means held), which a
    writer starting in that instant would meet only if the last holder still lives."""
    path = Path(run_path) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False  # absent, a link or unreadable: nobody trains through it
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        pid, host = _describe(os.pread(fd, 256, 0).decode("utf-8", "replace"))
        if host == socket.gethostname() and pid == os.getpid():
            return Path(run_path).resolve() in _HELD_HERE  # this process: no flock that a starting Trainer could meet
        if pid is not None and host == socket.gethostname() and not _pid_alive(pid):
            return False  # its last holder is gone: stale by construction
        if fcntl is None:
            return pid is not None and pid != os.getpid()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
