"""Short jobs on a QThreadPool whose answers only count for the newest request: the one helper behind the
GUI's pool work (opening a data source, the dataset's training preview, the forward view's x_0, thumbnails,
the dataset check).

A job is `fn(should_stop, report)`, like a `TaskRunner` task but many at once and without a thread of its own:
it runs on the pool, may poll `should_stop()` (true once a newer generation began: another source, another
selection) and calls `report(answer)` with snapshots (numbers, arrays, QImages, frozen dataclasses; never
QPixmaps or widgets). Each answer travels with the generation its job was submitted in, and `answered` delivers
only those of the current generation: `renew()` begins a new generation (and drops the queued jobs), so a
replaced request's late answers never reach the view. `shutdown()` also waits for the running jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

PoolJob = Callable[[Callable[[], bool], Callable[[Any], None]], None]  # fn(should_stop, report(answer))


class _Relay(QObject):
    """Lives on the GUI thread: the pool threads' answers are queued to it."""

    answer = Signal(int, object)  # generation, answer


class _Run(QRunnable):
    def __init__(self, owner: PoolJobs, job: PoolJob, generation: int) -> None:
        super().__init__()
        self.owner, self.job, self.generation = owner, job, generation

    def run(self) -> None:
        try:
            self.job(self._stale, self._report)
        except Exception:  # a job's bug must not end the pool thread silently
            log.exception("background job failed")

    def _stale(self) -> bool:
        return self.generation != self.owner.generation  # an int read: safe from the pool thread

    def _report(self, answer: Any) -> None:
        try:
            self.owner.relay.answer.emit(self.generation, answer)
        except RuntimeError:  # the receiver was deleted while the job ran (the application is closing)
            pass


class PoolJobs(QObject):
    """A thread pool and a generation counter; `answered(answer)` carries the current generation's answers."""

    answered = Signal(object)

    def __init__(self, parent: QObject | None = None, *, threads: int = 1) -> None:
        super().__init__(parent)
        self.generation = 0
        self.relay = _Relay(self)
        self.relay.answer.connect(self._on_answer)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))

    def renew(self) -> int:
        """Begin a new generation: queued jobs are dropped, running ones see `should_stop()` and are ignored."""
        self.generation += 1
        self._pool.clear()
        return self.generation

    def submit(self, job: PoolJob, priority: int = 0) -> None:
        """Run `job` in the current generation (a higher priority starts earlier)."""
        self._pool.start(_Run(self, job, self.generation), priority)

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Drop every answer to come and wait for the running jobs; True when none is left."""
        self.renew()
        return self._pool.waitForDone(int(timeout_s * 1000))

    @Slot(int, object)
    def _on_answer(self, generation: int, answer: Any) -> None:
        if generation == self.generation:
            self.answered.emit(answer)
