"""One writer per run: an exclusive lock on a run folder while it trains.

The lock is `<run>/.lock`, held with fcntl.flock (LOCK_EX | LOCK_NB) on an open descriptor for as long as the
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
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o666)  # read-only: no writer on the mount
        except OSError as exc:
            raise storage_error(exc, self.run_path, what="the run's lock file") from None
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
            stamp = f"{os.getpid()} {socket.gethostname()} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n"
            try:
                with open(self.path, "w", encoding="utf-8") as f:  # closed at once: no writer left on the mount
                    f.write(stamp)
            except OSError as exc:
                raise storage_error(exc, self.run_path, what="the run's lock file") from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

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

