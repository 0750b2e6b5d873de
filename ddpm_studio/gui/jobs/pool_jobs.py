"""Short jobs on a QThreadPool whose answers count only for the newest request: the one helper behind the
GUI's pool work (opening a source, the dataset preview, the forward view's x_0, thumbnails, the dataset check).

A job is `fn(should_stop, report)` like a `TaskRunner` task, many at once on the pool: `should_stop()` is true
once a newer generation began, `report(answer)` sends a snapshot (never a QPixmap or widget). An answer carries
its job's generation and `answered` delivers only the current one's: `renew()` begins a new generation (and
drops the queued jobs), so a replaced request's late answers never reach the view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

PoolJob = Callable[[Callable[[], bool], Callable[[Any], None]], None]  # fn(should_stop, report(answer))


class PoolJobs(QObject):
    """A thread pool and a generation counter; `answered(answer)` carries the current generation's answers."""

    answered = Signal(object)
    _answer = Signal(int, object)  # generation, answer: emitted on a pool thread, so queued to this (GUI) thread

    def __init__(self, parent: QObject | None = None, *, threads: int = 1) -> None:
        super().__init__(parent)
        self.generation = 0
        self._answer.connect(self._on_answer)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))

    def renew(self) -> int:
        """Begin a new generation: queued jobs are dropped, running ones see `should_stop()` and are ignored."""
        self.generation += 1
        self._pool.clear()
        return self.generation

    def submit(self, job: PoolJob, priority: int = 0) -> None:
        """Run `job` in the current generation (a higher priority starts earlier)."""
        generation = self.generation
        self._pool.start(lambda: self._run(job, generation), priority)

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Drop every answer to come and wait for the running jobs; True when none is left."""
        self.renew()
        return self._pool.waitForDone(int(timeout_s * 1000))

    def _run(self, job: PoolJob, generation: int) -> None:
        def report(answer: Any) -> None:
            try:
                self._answer.emit(generation, answer)
            except RuntimeError:  # deleted while the job ran (the application is closing)
                pass

        try:
            job(lambda: generation != self.generation, report)  # an int read: safe on the pool thread
        except Exception:  # a job's bug must not end the pool thread silently
            log.exception("background job failed")

    @Slot(int, object)
    def _on_answer(self, generation: int, answer: Any) -> None:
        if generation == self.generation:
            self.answered.emit(answer)
