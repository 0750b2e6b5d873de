"""Uncaught exceptions -> an error dialog with the message and the log file's path, never a silent death.

`install_exception_hooks` replaces `sys.excepthook` (GUI thread, Qt slots and virtual methods) and
`threading.excepthook` (Python worker threads). Each hook logs the traceback, then emits a signal of an
`ErrorReporter` that lives on the GUI thread, so the dialog is always built on the GUI thread
(a queued connection when the exception happened elsewhere).
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorReport:
    """One uncaught exception, as text that may cross threads."""

    title: str
    message: str
    details: str
    thread: str


def format_report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
                  thread: str) -> ErrorReport:
    """A one-line message plus the full traceback."""
    message = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    return ErrorReport(title="DDPM Studio — unexpected error", message=message, details=details,
                       thread=thread)


class ErrorReporter(QObject):
    """Receives reports from any thread and shows them in a non-blocking dialog on the GUI thread."""

    reported = Signal(object)  # ErrorReport

    def __init__(self, log_path: Path | None, parent: QObject | None = None, *, show_dialogs: bool = True) -> None:
        super().__init__(parent)
        self.log_path = log_path
        self.show_dialogs = show_dialogs
        self.reports: list[ErrorReport] = []
        self._dialog: QMessageBox | None = None
        self._pending = 0
        self.reported.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self._old_excepthook = None
        self._old_threading_hook = None

    # -- hooks (any thread) -------------------------------------------------------------------
    def report(self, exc_type, exc, tb, thread: str | None = None) -> None:
        """Log the exception and hand it to the GUI thread."""
        name = thread or threading.current_thread().name
        log.critical("uncaught exception in thread %s", name, exc_info=(exc_type, exc, tb))
        self.reported.emit(format_report(exc_type, exc, tb, name))

    def _excepthook(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        self.report(exc_type, exc, tb)

    def _threading_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        thread_name = args.thread.name if args.thread is not None else "worker"
        self.report(args.exc_type, args.exc_value, args.exc_traceback, thread_name)

    def install(self) -> None:
        """Become sys.excepthook and threading.excepthook (remembering the previous ones)."""
        self._old_excepthook, sys.excepthook = sys.excepthook, self._excepthook
        self._old_threading_hook, threading.excepthook = threading.excepthook, self._threading_hook

    def uninstall(self) -> None:
        """Restore the hooks that were there before `install`."""
        if self._old_excepthook is not None:
            sys.excepthook = self._old_excepthook
        if self._old_threading_hook is not None:
            threading.excepthook = self._old_threading_hook
        self._old_excepthook = self._old_threading_hook = None

    # -- GUI thread ---------------------------------------------------------------------------
    @Slot(object)
    def _show(self, report: ErrorReport) -> None:
        self.reports.append(report)
        if not self.show_dialogs:
            return
        if self._dialog is not None and self._dialog.isVisible():
            self._pending += 1  # one dialog at a time; count the rest
            self._dialog.setInformativeText(self._informative(extra=self._pending))
            return
        self._pending = 0
        parent = QApplication.activeWindow()
        dialog = QMessageBox(QMessageBox.Icon.Critical, report.title, report.message,
                             QMessageBox.StandardButton.Ok, parent if isinstance(parent, QWidget) else None)
        dialog.setInformativeText(self._informative())
        dialog.setDetailedText(report.details)
        dialog.setAccessibleName("Error dialog")
        dialog.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(self._dialog_closed)
        self._dialog = dialog
        dialog.open()  # non-blocking: no nested event loop

    def _informative(self, extra: int = 0) -> str:
        text = "The full traceback is in the log file:\n" + (str(self.log_path) if self.log_path else "(no log file)")
        if extra:
            text += f"\n\n{extra} more error(s) happened after this one; see the log."
        return text

    @Slot()
    def _dialog_closed(self) -> None:
        self._dialog = None
