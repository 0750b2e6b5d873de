"""The one place a command's exception becomes what a person reads: one line on stderr and an exit status.

No Python traceback reaches the terminal: the log file keeps it (`app/logs.py`). A user error (a bad flag
value, a damaged config or checkpoint, a missing or unreadable path, a locked run, unusable data) and a
resource error (out of memory, disk full) are one line, "ddpm-studio: error: <reason>", exit status 1.
Anything else is a bug: "ddpm-studio: internal error: <one line>; details in <log file>", exit status 70.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path

from ddpm_studio.atomic import StorageError
from ddpm_studio.cli.common import EXIT_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED, PROG
from ddpm_studio.data import DataLoadCancelled, DataSourceError, ImageDecodeError
from ddpm_studio.errors_text import one_line, shorten
from ddpm_studio.training.batches import DataError
from ddpm_studio.training.checkpoint import CheckpointError
from ddpm_studio.training.devices import is_out_of_memory
from ddpm_studio.training.run_lock import RunLocked
from ddpm_studio.training.runs import RunError

log = logging.getLogger("ddpm_studio.cli")

# ValueError: every config's validate() and typed_config's errors (which name the file and the key)
USER_ERRORS = (CheckpointError, RunError, RunLocked, DataSourceError, DataLoadCancelled, DataError, ImageDecodeError,
               ValueError)
# what to make smaller when memory runs out, per command (a command not listed gets the generic advice)
MEMORY_ADVICE = {
    "train": "try a smaller --batch-size, --size or --base-channels",
    "sample": "try a smaller --count, or --device cpu if a GPU ran out",
    "noise": "try a smaller --size or fewer --rows",
}


def first_line(exc: BaseException) -> str:
    """The first non-empty line of the exception's text (or its type's name), shortened (`errors_text`)."""
    if isinstance(exc, ImageDecodeError) and not str(exc).strip() and exc.reason:
        return one_line(ValueError(exc.reason))
    return one_line(exc)


def describe_os_error(exc: OSError) -> str:
    """"<what went wrong>: <path>" from an OSError, without the "[Errno N]" prefix."""
    if isinstance(exc, StorageError):
        return str(exc)
    reason = exc.strerror or first_line(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on the device"
    reason = reason[0].lower() + reason[1:] if reason else type(exc).__name__
    path = exc.filename2 if exc.filename2 is not None else exc.filename  # a rename's target is the user's path
    if exc.errno == errno.EEXIST and path is not None and not Path(path).is_dir():
        return f"not a folder: {shorten(str(path))} (a file is where a folder is needed)"
    if exc.errno == errno.ENOTDIR and path is not None:
        blocker = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return f"not a folder: {shorten(str(blocker))} (in {shorten(str(path))})"
    return f"{reason}: {shorten(str(path))}" if path is not None else reason


def report(exc: BaseException, command: str | None, log_path: Path | None) -> tuple[str, int]:
    """The line for stderr and the exit status of a command that raised `exc`; the traceback goes to the log."""
    if isinstance(exc, KeyboardInterrupt):
        log.info("interrupted", exc_info=exc)
        return f"{PROG}: interrupted", EXIT_INTERRUPTED
    if is_out_of_memory(exc):  # MemoryError included: the one OOM classifier (training/devices.py)
        advice = MEMORY_ADVICE.get(command or "", "try smaller settings")
        log.info("out of memory in %s", command, exc_info=exc)
        return f"{PROG}: error: out of memory; {advice}", EXIT_ERROR
    if isinstance(exc, USER_ERRORS):
        line = first_line(exc)
    elif isinstance(exc, OSError):
        line = describe_os_error(exc)
    else:
        log.error("internal error in %s", command, exc_info=exc)
        where = f"details in {log_path}" if log_path is not None else "no log file could be written"
        return f"{PROG}: internal error: {type(exc).__name__}: {first_line(exc)}; {where}", EXIT_INTERNAL
    log.info("%s failed: %s", command, line, exc_info=exc)
    return f"{PROG}: error: {line}", EXIT_ERROR
