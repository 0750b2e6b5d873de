"""One long app-layer call on a QThread: the one worker/thread plumbing of every GUI background job.

Views whose work is a single function use `TaskRunner` directly (the sampler sweep, the probes, evaluation);
`sampler_worker.SamplerRunner` and `export_worker.ExportRunner` are thin typed faces over it; training is a
task too (`training_worker`).

The task is `fn(should_stop, report) -> result`: it polls `should_stop()` (a threading.Event, set by `cancel`)
and calls `report(snapshot)` with progress snapshots (throttled; `report(snapshot, True)` always goes).
Only snapshots cross threads (docs/architecture.md, "Threading"): `fn` must report and return numbers,
strings, numpy arrays or frozen dataclasses of those. Every worker signal carries the run id; `TaskRunner`
forwards only the current run's, so a replaced (or joined) run's late answers are dropped. A failure is one
line; `finished` is last, after every snapshot of its run.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import torch
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

log = logging.getLogger(__name__)

Task = Callable[[Callable[[], bool], Callable[..., None]], Any]  # fn(should_stop, report(snapshot, force=False))
REPORT_INTERVAL_S = 0.05  # progress snapshots at most 20 per second (the last one always goes)
OOM_MESSAGE = "Out of GPU memory: use fewer images."


class TaskWorker(QObject):
    """Lives on a QThread; `run` calls the task and emits its snapshots and result. `cancel` is thread-safe."""

    # run_id, the TaskRunner signal it becomes, and its value: "progress" (a snapshot), "result" (the task's
    # return value, also after a cancel: partial results) or "failed" (a one-line message)
    answer = Signal(int, str, object)
    done = Signal(int)  # run_id; always last

    def __init__(self, task: Task, run_id: int, threads: int | None = None,
                 oom_message: str = OOM_MESSAGE, on_cancel: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.task, self.run_id, self.threads, self.oom_message = task, run_id, threads, oom_message
        self._on_cancel = on_cancel
        self._cancel = threading.Event()
        self._last_report = 0.0

    def cancel(self) -> None:
        self._cancel.set()
        if self._on_cancel is not None:  # e.g. a Trainer that only sees its own stop request
            self._on_cancel()

    def _report(self, snapshot: Any, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_report >= REPORT_INTERVAL_S:
            self._last_report = now
            self.answer.emit(self.run_id, "progress", snapshot)

    @Slot()
    def run(self) -> None:
        try:
            if self.threads != 0:  # None: all cores but one, which is left to the interface; 0: torch's as it is
                torch.set_num_threads(self.threads or max(1, (os.cpu_count() or 2) - 1))
            self.answer.emit(self.run_id, "result", self.task(self._cancel.is_set, self._report))
        except torch.cuda.OutOfMemoryError:
            self.answer.emit(self.run_id, "failed", self.oom_message)
        except Exception as exc:
            log.exception("background task failed")
            self.answer.emit(self.run_id, "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        finally:
            self.done.emit(self.run_id)


class TaskRunner(QObject):
    """Owns one TaskWorker and its QThread at a time: start (a running one is cancelled first), cancel, join."""

    progress = Signal(object)
    result = Signal(object)
    failed = Signal(str)
    finished = Signal()  # after result or failed, once the thread has ended

    def __init__(self, name: str, parent: QObject | None = None, oom_message: str = OOM_MESSAGE) -> None:
        super().__init__(parent)
        self.name, self.oom_message = name, oom_message
        self._thread: QThread | None = None
        self._worker: TaskWorker | None = None
        self._run_id = 0
        app = QCoreApplication.instance()
        if app is not None:  # the app quits (main window closed): stop and join, never leave a thread running
            app.aboutToQuit.connect(self.shutdown)

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def start(self, task: Task, threads: int | None = None, on_cancel: Callable[[], None] | None = None) -> int:
        """Run `task` on a fresh thread and return its run id; `on_cancel` is called (on the cancelling thread)
        by `cancel` and `shutdown`, for a task whose work only stops on its own request (a Trainer)."""
        self.shutdown()
        self._run_id += 1
        worker, thread = TaskWorker(task, self._run_id, threads, self.oom_message, on_cancel), QThread()
        thread.setObjectName(self.name)
        worker.moveToThread(thread)
        worker.answer.connect(self._on_answer)
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        worker.done.connect(self._on_done)  # queued after the run's every snapshot: `finished` comes last
        thread.started.connect(worker.run)
        self._worker, self._thread = worker, thread
        thread.start()
        return self._run_id

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Cancel and join; True when no thread is left running. What the joined run still had queued is dropped
        (nobody waits for it any more), and no `finished` follows."""
        thread, worker = self._thread, self._worker
        if thread is None or worker is None:
            return True
        worker.cancel()
        thread.quit()
        if not thread.wait(int(timeout_s * 1000)):
            log.warning("%s thread did not stop within %.1f s", self.name, timeout_s)
            return False
        self._release()
        self._run_id += 1
        return True

    @Slot(int, str, object)
    def _on_answer(self, run_id: int, signal: str, value: Any) -> None:
        if run_id == self._run_id:  # else the late answer of a replaced or joined run: dropped
            getattr(self, signal).emit(value)

    @Slot(int)
    def _on_done(self, run_id: int) -> None:
        if run_id != self._run_id or self._thread is None:
            return
        # `done` is the worker's last act and quit() was called with it: the thread is only leaving its event
        # loop, so this join is short, and `finished` can promise that no thread runs any more.
        if self._thread.wait(5000):
            self._release()
        self.finished.emit()

    def _release(self) -> None:
        self._worker.deleteLater()
        self._thread.deleteLater()
        self._thread = self._worker = None


class TaskFace(QObject):
    """A typed face over one TaskRunner (the sampler's frames, an export's progress): subclasses declare their
    signals and turn the runner's snapshots and result into them in `_on_progress` / `_on_result`."""

    failed = Signal(str)  # one-line message

    def __init__(self, name: str, parent: QObject | None = None, oom_message: str = OOM_MESSAGE) -> None:
        super().__init__(parent)
        self._runner = TaskRunner(name, self, oom_message=oom_message)
        self._runner.progress.connect(self._on_progress)
        self._runner.result.connect(self._on_result)
        self._runner.failed.connect(self.failed)

    def is_running(self) -> bool:
        return self._runner.is_running()

    def cancel(self) -> None:
        self._runner.cancel()

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Cancel and join; True when no thread is left running."""
        return self._runner.shutdown(timeout_s)

    def _on_progress(self, snapshot: Any) -> None:
        raise NotImplementedError

    def _on_result(self, value: Any) -> None:
        raise NotImplementedError
