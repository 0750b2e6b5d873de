"""The numbers above the training plots: status, step, epoch, loss, throughput, elapsed time, ETA, the run
folder and the latest checkpoint.

Fed with StepEvent snapshots while a run trains, and with the last history record of a reopened run. The
ETA divides the steps left by the rate measured since the first event of this session (`reset_rate` after
a pause, so waiting does not count as slowness).
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from ddpm_studio.training.events import StepEvent

NAMES = {"status": "Status", "step": "Step", "epoch": "Epoch", "loss": "Loss", "speed": "Throughput",
         "elapsed": "Elapsed", "eta": "ETA", "run": "Run", "checkpoint": "Checkpoint"}
ROW = ("status", "step", "epoch", "loss", "speed", "elapsed", "eta")  # the first row; run and checkpoint below


def format_duration(seconds: float | None) -> str:
    """3725 -> '1:02:05'; None/inf -> '—'."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class TrainingStats(QWidget):
    """A grid of labelled values; `set(key, text)` for any of NAMES, `show_step` / `show_record` for many."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels = {key: QLabel("—") for key in NAMES}
        self._rate_origin: tuple[int, float] | None = None  # (step, elapsed) at the first event of this session
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, key in enumerate(ROW):
            grid.addWidget(QLabel(f"<b>{NAMES[key]}</b>"), 0, i)
            grid.addWidget(self.labels[key], 1, i)
        for row, key in enumerate(("run", "checkpoint"), start=2):
            self.labels[key].setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(QLabel(f"<b>{NAMES[key]}</b>"), row, 0)
            grid.addWidget(self.labels[key], row, 1, 1, len(ROW) - 1)

    def set(self, key: str, text: str) -> None:
        self.labels[key].setText(text)

    def text(self, key: str) -> str:
        return self.labels[key].text()

    def reset_rate(self) -> None:
        """Measure the ETA's rate afresh from the next event (a new session, or after a pause)."""
        self._rate_origin = None

    def show_step(self, event: StepEvent) -> None:
        """The latest step of a training run."""
        if self._rate_origin is None:
            self._rate_origin = (event.step, event.elapsed_s)
        self.set("step", f"{event.step}" + (f" / {event.total_steps}" if event.total_steps else ""))
        self.set("epoch", str(event.epoch))
        self.set("loss", f"{event.loss:.4f}")
        self.set("speed", f"{event.images_per_s:.1f} img/s")
        self.set("elapsed", format_duration(event.elapsed_s))
        self.set("eta", format_duration(self._eta(event)))

    def show_record(self, record: dict[str, Any]) -> None:
        """The last history record of a reopened run ({} when it has none)."""
        self.set("step", str(int(record["step"])) if "step" in record else "0")
        self.set("epoch", str(record["epoch"]) if "epoch" in record else "—")
        self.set("loss", f"{float(record['loss']):.4f}" if "loss" in record else "—")
        self.set("elapsed", format_duration(float(record["time"])) if "time" in record else "—")

    def _eta(self, event: StepEvent) -> float | None:
        if not event.total_steps or self._rate_origin is None:
            return None
        step0, t0 = self._rate_origin
        if event.step <= step0 or event.elapsed_s <= t0:
            return None
        rate = (event.step - step0) / (event.elapsed_s - t0)
        return max(0, event.total_steps - event.step) / rate
