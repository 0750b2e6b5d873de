"""The Qt face of a sampling session: `app.sampling.SamplingSession` on a `TaskRunner` thread, frames as signals.

Only snapshots cross threads (docs/architecture.md, "Threading"): the session yields `SampleFrame`s of uint8
arrays, never tensors or pixmaps. TaskRunner's run ids drop the late frames of a cancelled run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from ddpm_studio.app.sampling import MAX_FRAMES, LaneSpec, SamplingSession
from ddpm_studio.gui.jobs.task_worker import TaskFace

OOM_MESSAGE = "Out of GPU memory: lower the image count or average fewer draws."


@dataclass(frozen=True)
class SamplerRequest:
    """Everything the worker needs; lanes share the seed's x_T, so their image shapes must match."""

    lanes: tuple[LaneSpec, ...]
    with_eps: bool = False
    max_frames: int = MAX_FRAMES
    device: str = "auto"


def _sampling_task(request: SamplerRequest) -> Callable[[Callable[[], bool], Callable[..., None]], str]:
    """The session as a TaskRunner task: ("plan", SamplingPlan) then ("frame", SampleFrame)s, every one sent."""

    def task(should_stop: Callable[[], bool], report: Callable[..., None]) -> str:
        session = SamplingSession(request.lanes, device=request.device, max_frames=request.max_frames,
                                  with_eps=request.with_eps)
        report(("plan", session.start()), True)
        for frame in session.frames(should_stop=should_stop):
            report(("frame", frame), True)
        return "cancelled" if should_stop() else "completed"

    return task


class SamplerRunner(TaskFace):
    """Samples one request at a time: start (a running one is cancelled and joined first), cancel, a bounded join;
    `failed(message)` as TaskFace's."""

    planned = Signal(object)  # SamplingPlan
    frame = Signal(object)  # SampleFrame
    finished = Signal(str)  # "completed" | "cancelled"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__("sampler", parent, oom_message=OOM_MESSAGE)

    def start(self, request: SamplerRequest) -> None:
        self._runner.start(_sampling_task(request))  # all cores but one: one is left to the interface

    @Slot(object)
    def _on_progress(self, snapshot: Any) -> None:
        kind, value = snapshot
        (self.planned if kind == "plan" else self.frame).emit(value)

    @Slot(object)
    def _on_result(self, reason: str) -> None:
        self.finished.emit(reason)
