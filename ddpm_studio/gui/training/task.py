"""Training as a `TaskRunner` task: `app.training.prepare` + `Trainer.run` on the runner's thread, the
Trainer's events as the task's snapshots, pause / resume / stop through a `TrainingControl` handle.

Snapshots, in order: `Stage`s while the job is prepared, a `Notice` of skipped files, `RunReady` once the
Trainer exists, then lists of `StepEvent` and every other TrainingEvent as it is. Steps are coalesced (at most
~20 lists per second) so a fast GPU cannot flood the GUI thread's queue; any other event flushes the pending
steps first, so order is kept. A failure is reported as a `FailedEvent` with the Trainer's kinds, never raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ddpm_studio.app.failures import describe_failure
from ddpm_studio.app.training import TrainingJob, prepare
from ddpm_studio.data import DataLoadCancelled
from ddpm_studio.gui.jobs.task_worker import Task
from ddpm_studio.training.events import FailedEvent, StepEvent, TrainingEvent
from ddpm_studio.training.trainer import Trainer

log = logging.getLogger(__name__)

STEP_BATCH_S = 0.05  # report coalesced step events at most every 50 ms


@dataclass(frozen=True)
class Stage:
    text: str  # a setup stage, for the status line ("loading data", ...)


@dataclass(frozen=True)
class Notice:
    text: str  # something the user should know that is not an error (skipped files)


@dataclass(frozen=True)
class RunReady:
    path: Path  # the run folder (created or reopened); the Trainer exists and obeys the control handle


class TrainingControl:
    """Pause / resume / stop of one training task, from any thread. The Trainer only exists once the job is
    prepared: the handle keeps the request and applies it when the task attaches the Trainer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # attach (worker thread) vs pause/resume/stop (GUI thread)
        self._trainer: Trainer | None = None
        self._paused = self._stopped = False

    def attach(self, trainer: Trainer) -> None:
        with self._lock:
            self._trainer = trainer
            if self._stopped:
                trainer.request_stop()
            elif self._paused:
                trainer.request_pause()

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
        """The Trainer writes a checkpoint and ends; a paused one wakes up to do so (request_stop resumes it)."""
        with self._lock:
            self._stopped = True
            if self._trainer is not None:
                self._trainer.request_stop()

    def is_paused(self) -> bool:
        """True once the Trainer is actually blocked in a pause (no step is in flight)."""
        return self._trainer is not None and self._trainer.is_paused  # attached once, never detached


class _StepBatcher:
    """Coalesces StepEvents into lists; any other event is reported after the steps before it."""

    def __init__(self, report: Callable[..., None]) -> None:
        self._report, self._pending, self._last = report, [], 0.0

    def on_event(self, event: TrainingEvent) -> None:
        if isinstance(event, StepEvent):
            self._pending.append(event)
            if time.monotonic() - self._last >= STEP_BATCH_S:
                self.flush()
            return
        self.flush()
        self._report(event, True)

    def flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self._report(batch, True)
        self._last = time.monotonic()


def training_task(job: TrainingJob, control: TrainingControl) -> Task:
    """`job` as a TaskRunner task; start it with `on_cancel=control.stop` so a cancel stops the Trainer too."""

    def task(should_stop: Callable[[], bool], report: Callable[..., None]) -> None:
        steps = _StepBatcher(report)
        try:
            _train(job, control, should_stop, report, steps)
        except Exception as exc:  # reported as the Trainer reports its own failures: one line and a kind
            log.exception("training failed")
            steps.flush()
            kind, message = describe_failure(exc)  # plain words for expected conditions (app/failures.py)
            report(FailedEvent(step=0, message=message, kind=kind), True)
        finally:
            steps.flush()

    return task


def _train(job: TrainingJob, control: TrainingControl, should_stop: Callable[[], bool],
           report: Callable[..., None], steps: _StepBatcher) -> None:
    try:
        session = prepare(job, cancel=should_stop, on_status=lambda text: report(Stage(text), True))
    except DataLoadCancelled:
        return
    problems = session.problems
    notices = [f"{len(problems)} file(s) skipped, e.g. {problems[0].name}: {problems[0].reason}"] if problems else []
    if session.validation_warning:  # a set too small to hold anything out: said at each start
        notices.append(session.validation_warning[0].upper() + session.validation_warning[1:] + ".")
    if notices:
        report(Notice(". ".join(notices)), True)
    for skipped in session.skipped_checkpoints:  # a damaged latest checkpoint is never passed over silently
        report(Notice(f"Resuming from an older checkpoint: {skipped}"), True)
    control.attach(session.trainer)
    report(RunReady(Path(session.run.path)), True)
    session.run_training(steps.on_event)
