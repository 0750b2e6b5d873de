"""The numbers above the training plots: status, step, epoch, loss, throughput, elapsed time, ETA, the run
folder and the latest checkpoint.

Fed with StepEvent snapshots while a run trains, and with the last history record of a reopened run. The
ETA divides the steps left by the rate measured since the first event of this session (`reset_rate` after
a pause, so waiting does not count as slowness).

Throughput is shown as what the run really achieves: the Trainer's `images_per_s` measures the optimiser
steps alone, while `elapsed_s` also counts the preview sampling, so the wall rate (batch × steps / elapsed
time since the session's first event) can be far lower on a small dataset that previews every epoch. When the
two differ by more than `SHOWN_DIFFERENCE` both are shown, and `preview_share()` says what share of the training
time went to previews, by the Trainer's own accounting (`overhead_shares()`: the seconds it counted in previews,
quality metrics and checkpoints over the session's training time), not "every second outside the steps", which
also counts the step rate's own jitter. Fields that no longer apply are cleared: `clear_run` before a new
run, `end_session` (the ETA) when training ends.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from ddpm_studio.gui.widgets.elided_label import ElidedLabel
from ddpm_studio.training.events import StepEvent

SHOWN_DIFFERENCE = 0.1  # show the wall rate beside the step rate when it is more than 10 % lower
MIN_WALL_S = 2.0  # seconds of training time before the wall rate is trusted

NAMES = {"status": "Status", "step": "Step", "epoch": "Epoch", "loss": "Loss", "speed": "Throughput",
         "elapsed": "Elapsed", "eta": "ETA", "run": "Run", "checkpoint": "Checkpoint"}
ROW = ("status", "step", "epoch", "loss", "speed", "elapsed", "eta")  # the first row; run and checkpoint below
# The first row's columns share the width in these proportions, whatever their text: a value that grows ("1 / 4711"
# to "4711 / 4711", "training" to "stopping (writing a checkpoint) …") never moves the next column (old #29); a
# value too long for its column is elided, with the whole text in its tooltip.
ROW_WEIGHTS = {"status": 4, "step": 3, "epoch": 1, "loss": 2, "speed": 4, "elapsed": 2, "eta": 2}


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
        self.labels: dict[str, QLabel] = {key: ElidedLabel("—") for key in ("run", "checkpoint")}
        for key in ROW:
            label = ElidedLabel("—", mode=Qt.TextElideMode.ElideRight, min_chars=3)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # its text sizes nothing
            self.labels[key] = label
        self._rate_origin: tuple[int, float] | None = None  # (step, elapsed) at the first event of this session
        self._batch_size: int | None = None
        self._last: StepEvent | None = None
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, key in enumerate(ROW):
            grid.addWidget(QLabel(f"<b>{NAMES[key]}</b>"), 0, i)
            grid.addWidget(self.labels[key], 1, i)
            grid.setColumnStretch(i, ROW_WEIGHTS[key])
        for row, key in enumerate(("run", "checkpoint"), start=2):
            # a long path never widens the window: elided in the middle (its file name stays), full text in the tooltip
            grid.addWidget(QLabel(f"<b>{NAMES[key]}</b>"), row, 0)
            grid.addWidget(self.labels[key], row, 1, 1, len(ROW) - 1)

    def set(self, key: str, text: str) -> None:
        self.labels[key].setText(text)

    def text(self, key: str) -> str:
        return self.labels[key].text()

    def reset_rate(self) -> None:
        """Measure the ETA's rate afresh from the next event (a new session, or after a pause)."""
        self._rate_origin = None

    def set_batch_size(self, batch_size: int) -> None:
        """Images per step of the run being trained (for the wall-clock throughput)."""
        self._batch_size = int(batch_size)

    def clear_run(self) -> None:
        """Forget every number of the previous run (a new run starts, or another one is opened)."""
        for key in ("step", "epoch", "loss", "speed", "elapsed", "eta", "run", "checkpoint"):
            self.set(key, "—")
        self._rate_origin, self._last = None, None

    def end_session(self) -> None:
        """Training ended: there is no time left to estimate."""
        self.set("eta", "—")
        self._rate_origin = None

    def wall_rate(self) -> float | None:
        """Images per second of training time, previews included (None until measurable)."""
        event, origin = self._last, self._rate_origin
        if event is None or origin is None or not self._batch_size:
            return None
        steps, seconds = event.step - origin[0], event.elapsed_s - origin[1]
        if steps < 2 or seconds < MIN_WALL_S:
            return None
        return steps * self._batch_size / seconds

    def overhead_shares(self) -> dict[str, float] | None:
        """The share of this session's training time each kind of work outside the steps took (previews, metrics,
        checkpoints), from the Trainer's own accounting (StepEvent.overhead_s / session_s); None until
        MIN_WALL_S of training time or for a Trainer that does not report it."""
        event = self._last
        if event is None or event.overhead_s is None or not event.session_s or event.session_s < MIN_WALL_S:
            return None
        return {kind: seconds / event.session_s for kind, seconds in event.overhead_s.items()}

    def preview_share(self) -> float | None:
        """The share of this session's training time spent sampling previews (the Trainer's accounting)."""
        shares = self.overhead_shares()
        return None if shares is None else shares.get("preview", 0.0)

    def show_step(self, event: StepEvent) -> None:
        """The latest step of a training run."""
        if self._rate_origin is None:
            self._rate_origin = (event.step, event.elapsed_s)
        self._last = event
        self.set("step", f"{event.step}" + (f" / {event.total_steps}" if event.total_steps else ""))
        self.set("epoch", str(event.epoch))
        self.set("loss", f"{event.loss:.4f}")
        text, tip = self._speed_text(event)
        self.set("speed", text)
        self.labels["speed"].setToolTip(f"{text}: {tip}")
        self.set("elapsed", format_duration(event.elapsed_s))
        self.set("eta", format_duration(self._eta(event)))

    def show_record(self, record: dict[str, Any]) -> None:
        """The last history record of a reopened run ({} when it has none)."""
        self.set("step", str(int(record["step"])) if "step" in record else "0")
        self.set("epoch", str(record["epoch"]) if "epoch" in record else "—")
        self.set("loss", f"{float(record['loss']):.4f}" if "loss" in record else "—")
        self.set("elapsed", format_duration(float(record["time"])) if "time" in record else "—")

    def _speed_text(self, event: StepEvent) -> tuple[str, str]:
        """The throughput shown, and its explanation (the tooltip)."""
        wall = self.wall_rate()
        if wall is None or wall >= (1.0 - SHOWN_DIFFERENCE) * event.images_per_s:
            return f"{event.images_per_s:.1f} img/s", "images per second, data loading included."
        return (f"{wall:.1f} img/s ({event.images_per_s:.1f} without previews)",
                f"{wall:.1f} images per second of training time, previews and checkpoints included; the "
                f"optimiser steps alone run at {event.images_per_s:.1f} img/s.")

    def _eta(self, event: StepEvent) -> float | None:
        if not event.total_steps or self._rate_origin is None:
            return None
        step0, t0 = self._rate_origin
        if event.step <= step0 or event.elapsed_s <= t0:
            return None
        rate = (event.step - step0) / (event.elapsed_s - t0)
        return max(0, event.total_steps - event.step) / rate


OVERHEAD_WORDS = {"preview": "previews", "metrics": "quality metrics", "checkpoint": "checkpoints",
                  "validation": "validation losses"}


def overhead_notice(shares: dict[str, float] | None, threshold: float) -> str | None:
    """A notice when the work outside the optimiser steps takes more than `threshold` of the training time,
    naming the largest part and every share as the Trainer counted them; None below it."""
    if not shares or sum(shares.values()) <= threshold:
        return None
    largest = max(shares, key=shares.get)
    parts = ", ".join(f"{OVERHEAD_WORDS.get(k, k)} {v:.1%}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]))
    advice = {"preview": "sample previews less often (the preview setting in the form) or make fewer preview images",
              "metrics": "score the quality less often (the metrics time share in the form)",
              "checkpoint": "write checkpoints less often",
              "validation": "score the validation loss less often (training.validation_time_share)"}.get(largest, "")
    return (f"{OVERHEAD_WORDS.get(largest, largest).capitalize()} take {shares[largest]:.0%} of the training time "
            f"(this session, as the Trainer counts it: {parts}): {advice}.")
