"""A Qt fatal message at launch goes to the terminal, with its cause, not to the log file alone.

Qt aborts the process right after its message handler returns from a fatal message ("This application failed to
start because no Qt platform plugin could be initialized"); the app's handler sends Qt's messages to the log, so
a user saw only the shell's "Aborted" (issue 22 N1). Here the fatal message, Qt's platform notices before it, the
libraries the platform plugin cannot find (`platform_libs`) and the log's path are written to stderr, then the
process ends with code 1.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

from PySide6.QtCore import QLibraryInfo

from ddpm_studio.platform_libs import launch_failure_report, missing_libraries, platform_plugin_file

EXIT_CODE = 1
_PLATFORM_NAME = re.compile(r'Qt platform plugin "([^"]+)"')
_MAX_NOTICES = 8

_notices: list[str] = []  # Qt's platform messages so far (the reason is spread over several)
_log_path: Path | None = None


def set_log_path(path: Path | None) -> None:
    """The log file the report names."""
    global _log_path
    _log_path = path


def note(message: str) -> None:
    """Keep a platform notice ("Could not load the Qt platform plugin ...") for a fatal report."""
    if "platform" in message.lower() or "xcb" in message.lower() or "display" in message.lower():
        _notices.append(message)
        del _notices[:-_MAX_NOTICES]


def _platform(messages: list[str]) -> str | None:
    for message in reversed(messages):
        found = _PLATFORM_NAME.search(message)
        if found:
            return found.group(1)
    chosen = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    return chosen or ("xcb" if sys.platform.startswith("linux") else None)


def _plugin_dirs() -> list[Path]:
    """The folders Qt looks in for platform plugins: QT_QPA_PLATFORM_PLUGIN_PATH first, then its own."""
    first = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    dirs = [Path(first)] if first else []
    return [*dirs, Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"]


def report(fatal_message: str) -> str:
    """The stderr report for a fatal Qt message."""
    messages = [*_notices, fatal_message]
    platform = _platform(messages)
    missing = None
    if platform is not None:
        plugin = next((p for d in _plugin_dirs() if (p := platform_plugin_file(d, platform)) is not None), None)
        missing = missing_libraries(plugin) if plugin is not None else None
    if missing is not None and "libxcb-cursor.so.0" not in missing.libraries:
        messages = [m for m in messages if "xcb-cursor0" not in m]  # Qt's hint, printed whatever is missing
    reason = "\n".join(dict.fromkeys(m.strip() for m in messages))
    return launch_failure_report(reason, platform=platform, missing=missing, log_path=_log_path)


def die(fatal_message: str) -> None:
    """Write the report to stderr and the log, then end the process (Qt would abort it anyway)."""
    text = report(fatal_message)
    logging.getLogger("ddpm_studio").critical("%s", text)
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        os.write(2, (text + "\n").encode("utf-8", "replace"))
    logging.shutdown()
    os._exit(EXIT_CODE)
