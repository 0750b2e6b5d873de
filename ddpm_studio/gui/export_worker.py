"""Exports off the GUI thread: one `app.exports` job at a time on a QThread, with progress and cancel.

An export job is a plain callable `job(progress, should_stop) -> Path` built by the view from a snapshot of
what it shows (`SamplerRecording.snapshot()`), so nothing the GUI thread changes is read meanwhile. The
worker reports progress as (done, total) at most every `PROGRESS_INTERVAL_S` seconds, then `finished(path)`,
`cancelled()` or `failed(message)`; `done` comes last. Each job has an id: answers of a replaced job are dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ddpm_studio.app.exports import ExportCancelled, Progress, StopCheck

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress signals per second
ExportJob = Callable[[Progress, StopCheck], Path]


class ExportWorker(QObject):
    """Runs one export job on its thread; `cancel` is thread-safe."""

    progress = Signal(int, int, int)  # job id, done, total
    finished = Signal(int, object)  # job id, Path written
    cancelled = Signal(int)
    failed = Signal(int, str)  # job id, one-line message
    done = Signal()  # always last

    def __init__(self, job: ExportJob, job_id: int) -> None:
        super().__init__()
        self.job, self.job_id = job, job_id
        self._cancel = threading.Event()
        self._last_report = 0.0

    def cancel(self) -> None:
        self._cancel.set()

    def _progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_report >= PROGRESS_INTERVAL_S:
            self._last_report = now
            self.progress.emit(self.job_id, done, total)

    @Slot()
    def run(self) -> None:
        try:
            path = self.job(self._progress, self._cancel.is_set)
            self.finished.emit(self.job_id, Path(path))
        except ExportCancelled:
            self.cancelled.emit(self.job_id)
        except (ValueError, OSError) as exc:
            self.failed.emit(self.job_id, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except Exception as exc:
            log.exception("export failed")
            self.failed.emit(self.job_id, f"{type(exc).__name__}: {exc}")
        finally:
            self.done.emit()


class ExportRunner(QObject):
    """Owns the export worker and its QThread on the GUI side: start, cancel, a bounded join."""

    progress = Signal(int, int)  # done, total
    finished = Signal(object)  # Path
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: ExportWorker | None = None
        self._job_id = 0

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def start(self, job: ExportJob) -> None:
        """Run `job` on a fresh thread (a running export is cancelled and joined first)."""
        self.shutdown()
        self._job_id += 1
        worker, thread = ExportWorker(job, self._job_id), QThread()
        thread.setObjectName("export")
        worker.moveToThread(thread)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.cancelled.connect(self._on_cancelled)
        worker.failed.connect(self._on_failed)
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.started.connect(worker.run)
        self._worker, self._thread = worker, thread
        thread.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Cancel and join; True when no export thread is left running."""
        thread, worker = self._thread, self._worker
        if thread is None or worker is None:
            return True
        worker.cancel()
        thread.quit()
        if not thread.wait(int(timeout_s * 1000)):
            log.warning("export thread did not stop within %.1f s", timeout_s)
            return False
        self._thread = self._worker = None
        worker.deleteLater()
        thread.deleteLater()
        return True

    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if job_id == self._job_id:
            self.progress.emit(done, total)

    @Slot(int, object)
    def _on_finished(self, job_id: int, path: Path) -> None:
        if job_id == self._job_id:
            self.finished.emit(path)

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        if job_id == self._job_id:
            self.cancelled.emit()

    @Slot(int, str)
    def _on_failed(self, job_id: int, message: str) -> None:
        if job_id == self._job_id:
            self.failed.emit(message)
