"""The standard training scalars a TensorBoard user reaches for (issue 21): the loss, the learning rate and the
gradient norm (before clipping) against the step, the images seen or the training time (relative, from the
run's start, pauses excluded).

Fed with StepEvents while a run trains and with history.jsonl records when a run is reopened (runs stored
before issue 21 have no gradient norm or images seen: the gradient norm curve says so, the images axis falls back
to step × batch). Points are kept by step, so a resume from an older checkpoint overwrites the steps it trains
again. The redraw is throttled like the loss plot's. The context menu exports the data (CSV) and the image (PNG).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ddpm_studio.gui.widgets.plot_axes import plain_axes, show_values
from ddpm_studio.gui.widgets.plot_export import install_export_menu
from ddpm_studio.training.events import StepEvent

CURVES: dict[str, str] = {"lr": "learning rate", "grad_norm": "gradient norm", "loss": "loss"}
X_AXES: dict[str, str] = {"step": "step", "images": "images seen", "time": "training time (min)"}
EMPTY_TEXT = {"grad_norm": "no gradient norm: this run clips no gradients, or was stored before it was logged",
              "lr": "no steps yet", "loss": "no steps yet"}
PEN = pg.mkPen((60, 140, 60), width=2)
REDRAW_MS = 100


class ScalarPlot(QWidget):
    """One training scalar (chooser) against step, images seen or training time (chooser)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._records: dict[int, dict[str, float]] = {}  # step -> {"lr", "grad_norm", "loss", "images", "time"}
        self._batch_size = 1
        self._dirty = False
        self.curve_box = QComboBox()
        for key, label in CURVES.items():
            self.curve_box.addItem(label, key)
        self.curve_box.setAccessibleName("Training scalar")
        self.x_box = QComboBox()
        for key, label in X_AXES.items():
            self.x_box.addItem(label, key)
        self.x_box.setAccessibleName("Horizontal axis")
        for box in (self.curve_box, self.x_box):  # long labels elide: the tab shares its row with the previews
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(6)
        self.plot = pg.PlotWidget(axisItems=plain_axes())
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.curve = self.plot.plot([], [], pen=PEN)
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        self.empty_label = QLabel()
        self.empty_label.setStyleSheet("color: #666;")
        self.empty_label.setWordWrap(True)
        install_export_menu(self.plot, self.table, lambda: f"training_{self.curve_key}_by_{self.x_key}")
        head = QHBoxLayout()
        head.addWidget(self.curve_box, 1)
        head.addWidget(QLabel("vs"))
        head.addWidget(self.x_box, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.empty_label)
        self.curve_box.currentIndexChanged.connect(self._changed)
        self.x_box.currentIndexChanged.connect(self._changed)
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()
        self._changed()

    # -- feeding -------------------------------------------------------------------------------
    def set_batch_size(self, batch_size: int) -> None:
        """Images per step, for records without `images` (runs stored before issue 21)."""
        self._batch_size = max(1, int(batch_size))

    def append(self, event: StepEvent) -> None:
        self._add(event.step, {"lr": event.lr, "grad_norm": event.grad_norm, "loss": event.loss,
                               "images": event.images_seen, "time": event.elapsed_s})

    def set_history(self, records: list[dict[str, Any]]) -> None:
        """The history.jsonl records of a reopened run (keys absent in older runs are skipped)."""
        self._records.clear()
        for r in records:
            self._add(int(r["step"]), {"lr": r.get("lr"), "grad_norm": r.get("grad_norm"), "loss": r.get("loss"),
                                       "images": r.get("images"), "time": r.get("time")})
        self._redraw()

    def clear(self) -> None:
        self._records.clear()
        self._dirty = True
        self._redraw()

    def _add(self, step: int, values: dict[str, Any]) -> None:
        if self._records and step <= max(self._records):  # a resume trains these steps again
            for later in [s for s in self._records if s >= step]:
                del self._records[later]
        self._records[step] = {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}
        self._dirty = True

    # -- reading -------------------------------------------------------------------------------
    @property
    def curve_key(self) -> str:
        return str(self.curve_box.currentData())

    @property
    def x_key(self) -> str:
        return str(self.x_box.currentData())

    def set_curve(self, key: str) -> None:
        self.curve_box.setCurrentIndex(list(CURVES).index(key))

    def set_x(self, key: str) -> None:
        self.x_box.setCurrentIndex(list(X_AXES).index(key))

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of the chosen scalar against the chosen axis, by step (steps without the scalar left out)."""
        steps = [s for s in sorted(self._records) if self.curve_key in self._records[s]]
        xs = [self._x(s) for s in steps]
        return np.array(xs, np.float64), np.array([self._records[s][self.curve_key] for s in steps], np.float64)

    def table(self) -> tuple[list[str], list[list[float]]]:
        """Every stored scalar by step (for a CSV): step, images seen, training time (s), loss, lr, grad norm."""
        header = ["step", "images", "time_s", "loss", "lr", "grad_norm"]
        rows = []
        for s in sorted(self._records):
            r = self._records[s]
            rows.append([s, int(r.get("images", s * self._batch_size)), r.get("time", ""), r.get("loss", ""),
                         r.get("lr", ""), r.get("grad_norm", "")])
        return header, rows

    def _x(self, step: int) -> float:
        record = self._records[step]
        if self.x_key == "images":
            return record.get("images", float(step * self._batch_size))
        if self.x_key == "time":
            return record.get("time", np.nan) / 60.0
        return float(step)

    # -- drawing -------------------------------------------------------------------------------
    def _changed(self) -> None:
        self.plot.setLabel("left", CURVES[self.curve_key])
        self.plot.setLabel("bottom", X_AXES[self.x_key])
        self.plot.setLogMode(x=False, y=self.curve_key == "grad_norm")
        self._dirty = True
        self._redraw()

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        xs, ys = self.series()
        if self.curve_key == "grad_norm":  # log axis: positive values only
            keep = ys > 0
            xs, ys = xs[keep], ys[keep]
        self.curve.setData(xs, ys)
        empty = len(xs) == 0
        self.empty_label.setText(EMPTY_TEXT[self.curve_key] if empty else "")
        self.empty_label.setVisible(empty)
        show_values(self.plot, not empty)
