"""The Qt adapter of a training job: a QObject moved to a QThread that turns training events into signals.

The Trainer knows nothing of Qt (docs/architecture.md, "Threading"); this worker prepares the job on its
thread (`app.training.prepare`: the run, the data, the Trainer), runs it and re-emits each event dataclass.
Step events are coalesced into batches (at most ~20 per second) so a fast GPU cannot flood the GUI thread's
queue; every other event flushes the pending batch first, so order is kept. On CPU it leaves one core to the
interface (torch.set_num_threads(cores - 1)). `TrainingRunner` owns the thread on the GUI side.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ddpm_studio.app.failures import describe_failure
from ddpm_studio.app.training import TrainingJob, TrainingSession, prepare
from ddpm_studio.data import DataLoadCancelled
from ddpm_studio.training.events import FailedEvent, StepEvent

log = logging.getLogger(__name__)

STEP_BATCH_S = 0.05  # emit coalesced step events at most every 50 ms


def interface_friendly_threads() -> int:
    """torch threads that leave one core to the interface."""
    return max(1, (os.cpu_count() or 2) - 1)


class TrainingWorker(QObject):
    """Runs one training job on its thread. `pause`/`resume`/`stop` are thread-safe."""

    status = Signal(str)  # a setup stage, for the status line
    notice = Signal(str)  # something the user should know that is not an error (skipped files)
    run_ready = Signal(object)  # Path of the run folder (created or reopened)
    steps = Signal(object)  # list[StepEvent], in order
    event = Signal(object)  # any other TrainingEvent (TimestepLoss, EpochEnd, Checkpoint, Finished, Failed)
    done = Signal()  # always the last signal

    def __init__(self, job: TrainingJob, num_threads: int | None = None) -> None:
        super().__init__()
        self.job, self.num_threads = job, num_threads  # CPU threads for torch (default: cores - 1)
        self._trainer = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._paused = False
        self._pending: list[StepEvent] = []
        self._last_flush = 0.0

    # -- control (any thread) -------------------------------------------------------------------
    def pause(self) -> None:
        with self._lock:
            self._paused = True
            if self._trainer is not None:
                self._trainer.request_pause()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            if self._trainer is not None:
                self._trainer.request_resume()

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            if self._trainer is not None:
                self._trainer.request_stop()
                self._trainer.request_resume()  # a paused trainer must wake up to see the stop

    def is_paused(self) -> bool:
        """True once the Trainer is actually blocked in a pause (no step is in flight)."""
        trainer = self._trainer
        return bool(trainer is not None and getattr(trainer, "is_paused", False))

    # -- the worker thread ------------------------------------------------------------------------
    @Slot()
    def run(self) -> None:
        try:
            torch.set_num_threads(self.num_threads or interface_friendly_threads())
            session = self._prepare()
            if session is not None:
                session.run_training(self._on_event)
        except Exception as exc:
            log.exception("training failed")
            self._flush()
            kind, message = describe_failure(exc)  # plain words for expected conditions (app/failures.py)
            self.event.emit(FailedEvent(step=0, message=message, kind=kind))
        finally:
            self._flush()
            self.done.emit()

    def _prepare(self) -> TrainingSession | None:
        """The job's run, data and Trainer; None when a stop came first."""
        try:
            session = prepare(self.job, cancel=self._stop.is_set, on_status=self.status.emit)
        except DataLoadCancelled:
            return None
        problems = session.problems
        if problems:
            self.notice.emit(f"{len(problems)} file(s) skipped, e.g. {problems[0].name}: {problems[0].reason}")
        for skipped in session.skipped_checkpoints:  # a damaged latest checkpoint is never passed over silently
            self.notice.emit(f"Resuming from an older checkpoint: {skipped}")
        self.run_ready.emit(session.run.path)
        with self._lock:
            self._trainer = session.trainer
            if self._stop.is_set():
                session.trainer.request_stop()
            elif self._paused:
                session.trainer.request_pause()
        self.status.emit("training")
        return session

    def _on_event(self, event) -> None:
        """Called by the Trainer on this thread: batch step events, pass the rest through in order."""
        if isinstance(event, StepEvent):
            self._pending.append(event)
            now = time.monotonic()
            if now - self._last_flush >= STEP_BATCH_S:
                self._flush(now)
            return
        self._flush()
        self.event.emit(event)

    def _flush(self, now: float | None = None) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.steps.emit(batch)
        self._last_flush = now if now is not None else time.monotonic()


class TrainingRunner(QObject):
    """Owns the worker and its QThread on the GUI side: start, pause/resume/stop, and a bounded join."""

    status = Signal(str)
    notice = Signal(str)
    run_ready = Signal(object)
    steps = Signal(object)
    event = Signal(object)
    stopped = Signal()  # the thread has ended (after the last event)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def start(self, job: TrainingJob) -> None:
        if self.is_running():
            raise RuntimeError("a training run is already in progress")
        self._release()
        worker, thread = TrainingWorker(job), QThread()
        thread.setObjectName("training")
        worker.moveToThread(thread)
        for name in ("status", "notice", "run_ready", "steps", "event"):
            getattr(worker, name).connect(getattr(self, name))
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        thread.started.connect(worker.run)
        self._worker, self._thread = worker, thread
        thread.start()

    def pause(self) -> None:
        if self._worker is not None:
            self._worker.pause()

    def is_paused(self) -> bool:
        """True once training is blocked in a pause."""
        return self._worker is not None and self._worker.is_paused()

    def resume(self) -> None:
        if self._worker is not None:
            self._worker.resume()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Stop (the Trainer writes a checkpoint) and join the thread; True when it has ended."""
        if self._thread is None:
            return True
        self.stop()
        self._thread.quit()
        if not self._thread.wait(int(timeout_s * 1000)):
            log.warning("training thread did not stop within %.1f s", timeout_s)
            return False
        self._release()
        return True

    @Slot()
    def _on_thread_finished(self) -> None:
        self.stopped.emit()

    def _release(self) -> None:
        if self._thread is not None and not self._thread.isRunning():
            self._worker.deleteLater()
            self._thread.deleteLater()
            self._thread = self._worker = None
