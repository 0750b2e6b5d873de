"""The log file both faces write: one rotating file in the user log folder, tracebacks kept there.

`setup_logging` is called once by each entry point: the GUI (`gui/application.py`) and the CLI (`cli/main.py`). The file
(`paths.log_dir()/ddpm-studio.log`: the platformdirs user log dir, or `$DDPM_STUDIO_HOME/logs`) gets every
record with its traceback. The CLI also asks for a terminal handler (`terminal=`): one line per record,
"ddpm-studio: warning: <message>", never a traceback; records that carry a traceback are left to the file (the
face reports that failure itself, once), nor library warnings (`warnings.warn`, routed to the file).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Callable
from pathlib import Path

from ddpm_studio import paths

LOG_FILE_NAME = "ddpm-studio.log"
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(process)d %(threadName)s %(name)s: %(message)s"
MAX_BYTES, BACKUPS = 2_000_000, 3
_MARK = "_ddpm_studio"  # set on our handlers, so a second setup replaces them instead of adding more


class OneLineFormatter(logging.Formatter):
    """`<prog>: <level>: <first line of the message>`, without the traceback a record may carry."""

    def __init__(self, prog: str) -> None:
        super().__init__()
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        lines = record.getMessage().strip().splitlines() or [""]
        return f"{self.prog}: {record.levelname.lower()}: {lines[0]}"


class _TerminalHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (pytest's capture, a redirect), one line per record."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.setStream(sys.stderr)
        super().emit(record)


def _for_the_terminal(record: logging.LogRecord) -> bool:
    """Terminal filter: a record with a traceback is a failure the face reports itself, and a library's
    warning (`py.warnings`) is noise to a user; the file keeps both."""
    return record.exc_info is None and record.name != "py.warnings"


def remove_handlers() -> None:
    """Detach and close the handlers an earlier `setup_logging` installed on the root logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MARK, False):
            root.removeHandler(handler)
            handler.close()


def setup_logging(level: str = "INFO", *, terminal: str | None = None, prog: str = paths.APP_NAME,
                  terminal_filter: Callable[[logging.LogRecord], bool] | None = None) -> Path | None:
    """Log to the rotating file (at `level`) and, if `terminal` names a level, one-line records on stderr
    (those `terminal_filter` accepts, if given).

    Returns the file's path, or None when the log folder cannot be written (then only the terminal gets
    records; the faces say so instead of naming a file).
    """
    remove_handlers()
    root = logging.getLogger()
    path: Path | None = paths.log_dir() / LOG_FILE_NAME
    levels = [getattr(logging, level)]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                            encoding="utf-8")
    except OSError:
        path = None
    else:
        file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
        file_handler.setLevel(getattr(logging, level))
        setattr(file_handler, _MARK, True)
        root.addHandler(file_handler)
    if terminal is not None:
        handler = _TerminalHandler()
        handler.setLevel(getattr(logging, terminal))
        handler.setFormatter(OneLineFormatter(prog))
        handler.addFilter(_for_the_terminal)
        if terminal_filter is not None:
            handler.addFilter(terminal_filter)
        setattr(handler, _MARK, True)
        root.addHandler(handler)
        levels.append(getattr(logging, terminal))
    root.setLevel(min(levels))
    logging.captureWarnings(True)  # library warnings (torch, PIL) go to the log, not raw onto the terminal
    return path


def current_log_file() -> Path | None:
    """The file the handler of the last `setup_logging` writes, or None."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, _MARK, False) and isinstance(handler, logging.FileHandler):
            return Path(handler.baseFilename)
    return None
