"""The Qt face of a sampling session: `app.sampling.SamplingSession` run on a QThread, its frames as signals.

Only snapshots cross threads (docs/architecture.md, "Threading"): the session yields `SampleFrame`s of uint8
arrays, never tensors or pixmaps. Each run has an id so the receiver drops late frames of a cancelled run.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ddpm_studio.app.sampling import MAX_FRAMES, LaneSpec, SampleFrame, SamplingPlan, SamplingSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplerRequest:
    """Everything the worker needs; lanes share the seed's x_T, so their image shapes must match."""

    lanes: tuple[LaneSpec, ...]
    with_eps: bool = False
    max_frames: int = MAX_FRAMES
    device: str = "auto"


class SamplerWorker(QObject):
    """QObject living on a QThread; `run` samples every lane and emits frames. `cancel` is thread-safe."""

    planned = Signal(int, object)  # run_id, SamplingPlan
    frame = Signal(int, object)  # run_id, SampleFrame
    finished = Signal(int, str)  # run_id, "completed" | "cancelled"
    failed = Signal(int, str)  # run_id, one-line message
    done = Signal()  # always last

    def __init__(self, request: SamplerRequest, run_id: int) -> None:
        super().__init__()
        self.request, self.run_id = request, run_id
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        req, run_id = self.request, self.run_id
        try:
            torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # leave one core to the interface
            session = SamplingSession(req.lanes, device=req.device, max_frames=req.max_frames, with_eps=req.with_eps)
            self.planned.emit(run_id, session.start())
            for frame in session.frames(should_stop=self._cancel.is_set):
                self.frame.emit(run_id, frame)
            self.finished.emit(run_id, "cancelled" if self._cancel.is_set() else "completed")
        except torch.cuda.OutOfMemoryError:
            self.failed.emit(run_id, "Out of GPU memory: lower the image count or average fewer draws.")
        except Exception as exc:
            log.exception("sampling failed")
            self.failed.emit(run_id, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        finally:
            self.done.emit()


class SamplerRunner(QObject):
    """Owns one SamplerWorker and its QThread at a time: start, cancel, and a bounded join.

    Its signals carry only the current run's output: late frames of a cancelled run are dropped.
    """

    planned = Signal(object)  # SamplingPlan
    frame = Signal(object)  # SampleFrame
    finished = Signal(str)  # "completed" | "cancelled"
    failed = Signal(str)  # one-line message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: SamplerWorker | None = None
        self._run_id = 0

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def start(self, request: SamplerRequest) -> None:
        """Start sampling on a fresh thread (a running one is cancelled and joined first)."""
        self.shutdown()
        self._run_id += 1
        worker, thread = SamplerWorker(request, self._run_id), QThread()
        thread.setObjectName("sampler")
        worker.moveToThread(thread)
        worker.planned.connect(self._on_planned)
        worker.frame.connect(self._on_frame)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.started.connect(worker.run)
        self._worker, self._thread = worker, thread
        thread.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Cancel and join; True when no thread is left running."""
        thread, worker = self._thread, self._worker
        if thread is None or worker is None:
            return True
        worker.cancel()
        thread.quit()
        if not thread.wait(int(timeout_s * 1000)):
            log.warning("sampler thread did not stop within %.1f s", timeout_s)
            return False
        self._thread = self._worker = None
        worker.deleteLater()
        thread.deleteLater()
        return True

    @Slot(int, object)
    def _on_planned(self, run_id: int, plan: SamplingPlan) -> None:
        if run_id == self._run_id:
            self.planned.emit(plan)

    @Slot(int, object)
    def _on_frame(self, run_id: int, frame: SampleFrame) -> None:
        if run_id == self._run_id:
            self.frame.emit(frame)

    @Slot(int, str)
    def _on_finished(self, run_id: int, reason: str) -> None:
        if run_id == self._run_id:
            self.finished.emit(reason)

    @Slot(int, str)
    def _on_failed(self, run_id: int, message: str) -> None:
        if run_id == self._run_id:
            self.failed.emit(message)
