"""Exports off the GUI thread: one `app.exports` job at a time on a `TaskRunner` thread, with progress and cancel.

An export job is a plain callable `job(progress, should_stop) -> Path` built by the view from a snapshot of
what it shows (`SamplerRecording.snapshot()`), so nothing the GUI thread changes is read meanwhile. Progress
comes as (done, total) at most every `task_worker.REPORT_INTERVAL_S` seconds (the last one always), then
`finished(path)`, `cancelled()` or `failed(message)`. Answers of a replaced job are dropped (TaskRunner's ids).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from ddpm_studio.app.exports import ExportCancelled, Progress, StopCheck
from ddpm_studio.gui.jobs.task_worker import TaskFace

ExportJob = Callable[[Progress, StopCheck], Path]


def _export_task(job: ExportJob) -> Callable[[StopCheck, Callable[..., None]], Path | None]:
    """The job as a TaskRunner task: progress as (done, total) snapshots, None when it was cancelled."""

    def task(should_stop: StopCheck, report: Callable[..., None]) -> Path | None:
        try:
            return Path(job(lambda done, total: report((done, total), done >= total), should_stop))
        except ExportCancelled:
            return None

    return task


class ExportRunner(TaskFace):
    """Runs one export job at a time: start (a running one is cancelled and joined first), cancel, a bounded join;
    `failed(message)` as TaskFace's."""

    progress = Signal(int, int)  # done, total
    finished = Signal(object)  # Path
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__("export", parent)

    def start(self, job: ExportJob) -> None:
        self._runner.start(_export_task(job), threads=0)  # not torch work: leave torch's threads as they are

    @Slot(object)
    def _on_progress(self, snapshot: Any) -> None:
        done, total = snapshot
        self.progress.emit(done, total)

    @Slot(object)
    def _on_result(self, path: Path | None) -> None:
        if path is None:
            self.cancelled.emit()
        else:
            self.finished.emit(path)
