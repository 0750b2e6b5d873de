"""The quality curve beside the loss: the EMA model's sample-quality metric over training steps.

Fed by the Trainer's MetricsEvents (training/quality_monitor.py) while a run trains, and from the run's
metrics.jsonl when it is reopened (`load_run`). One metric at a time (a combo box: SWD, precision, recall,
memorised share); its real-vs-real floor at the same sizes is a dashed line, so a person reads how far the
model is from real data, and the best step (whose checkpoint the run keeps) is a star. Each point's bootstrap
error (issue 21) is a band around the curve (±1 standard error, a FillBetweenItem) and the floor's a band around
the dashed line; the caption under the plot states the protocol ("64 samples · DPM-Solver++(2M) 10 · vs 256
real"), and the last point's value ± error, with a note when it is within error of the floor or better than it.
The plot's context menu exports its data (CSV) and image (PNG) (widgets/plot_export.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ddpm_studio.app.evaluation import format_with_error
from ddpm_studio.evaluation.score import floor_note
from ddpm_studio.gui.widgets.plot_axes import frame, plain_axes, show_values
from ddpm_studio.gui.widgets.plot_export import install_export_menu
from ddpm_studio.training.config import TrainingConfig
from ddpm_studio.training.events import MetricsEvent
from ddpm_studio.training.quality_monitor import read_metrics

# scalar key -> what the combo box says (lower/higher is better)
METRIC_LABELS: dict[str, str] = {
    "swd": "SWD ×10³ (lower is better)",
    "precision": "precision (higher is better)",
    "recall": "recall (higher is better)",
    "memorised": "memorised share (lower is better)",
}
EMPTY_MESSAGE = "no quality points yet"
EMPTY_TOOLTIP = (f"The run scores its EMA model's samples now and then (within "
                 f"{TrainingConfig().metrics_time_share:.0%} of the training time)")
CURVE_PEN = pg.mkPen((200, 90, 20), width=2)
FLOOR_PEN = pg.mkPen((90, 90, 90), width=1, style=Qt.PenStyle.DashLine)
BAND_BRUSH = pg.mkBrush(200, 90, 20, 50)  # ± one bootstrap standard error of the points
FLOOR_BAND_BRUSH = pg.mkBrush(90, 90, 90, 35)
UNIT_METRICS = frozenset({"precision", "recall", "memorised"})  # scores in [0, 1]: a fixed 0–1 axis
MIN_PLOT_HEIGHT = 140  # px: with its chooser and caption it matches the loss plot's row height


class MetricPlot(QWidget):
    """Metric vs step of one run, with its real-vs-real floor and the best step marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._points: dict[int, dict[str, float]] = {}  # step -> metrics
        self._errors: dict[int, dict[str, float]] = {}  # step -> bootstrap standard errors (older runs: none)
        self._floor: dict[str, float] | None = None
        self._floor_errors: dict[str, float] | None = None
        self._protocol = None  # evaluation.Protocol of the curve, None for runs stored before protocols
        self._best_step: int | None = None
        self.metric_box = QComboBox()
        for key, label in METRIC_LABELS.items():
            self.metric_box.addItem(label, key)
        self.metric_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.metric_box.setMinimumContentsLength(12)  # long labels elide: the plot shares the row with the loss
        self.metric_box.setAccessibleName("Sample quality metric")
        self.metric_box.setToolTip("Sample quality of the EMA model, scored on held-out images; the dashed line is "
                                   "real images scored the same way")
        self.plot = pg.PlotWidget(axisItems=plain_axes())  # no "(x0.001)", no 899.6…900.4 (issue 22 N9)
        self.plot.setBackground("w")
        self.plot.setMinimumHeight(MIN_PLOT_HEIGHT)
        self.plot.setLabel("bottom", "step")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.curve = self.plot.plot([], [], pen=CURVE_PEN, symbol="o", symbolSize=6, symbolBrush=(200, 90, 20))
        self.best_marker = self.plot.plot([], [], pen=None, symbol="star", symbolSize=16,
                                          symbolBrush=(240, 190, 0), symbolPen=(120, 90, 0))
        self.floor_line = pg.InfiniteLine(angle=0, pen=FLOOR_PEN, movable=False,
                                          label="real vs real", labelOpts={"position": 0.5, "color": (90, 90, 90)})
        self.plot.addItem(self.floor_line)
        # the band's edges are PlotCurveItems: a PlotDataItem without a pen has no path to fill between
        self._upper, self._lower = pg.PlotCurveItem(pen=pg.mkPen(None)), pg.PlotCurveItem(pen=pg.mkPen(None))
        self.band = pg.FillBetweenItem(self._upper, self._lower, brush=BAND_BRUSH)
        self._floor_upper = pg.PlotCurveItem(pen=pg.mkPen(None))
        self._floor_lower = pg.PlotCurveItem(pen=pg.mkPen(None))
        self.floor_band = pg.FillBetweenItem(self._floor_upper, self._floor_lower, brush=FLOOR_BAND_BRUSH)
        for item in (self._upper, self._lower, self._floor_upper, self._floor_lower):
            self.plot.addItem(item)
        self.plot.addItem(self.band)
        self.plot.addItem(self.floor_band)
        self.caption_label = QLabel()
        self.caption_label.setWordWrap(True)
        self.caption_label.setStyleSheet("color: #555; font-size: 9pt;")
        install_export_menu(self.plot, self.table, lambda: f"quality_{self.metric}")
        self.empty_label = QLabel(EMPTY_MESSAGE)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color: #666;")
        self.empty_label.setWordWrap(True)
        self.empty_label.setToolTip(EMPTY_TOOLTIP)
        self.best_label = QLabel()
        self.best_label.setWordWrap(True)  # labels never widen the tab (issue 13 item 12)
        head = QHBoxLayout()  # the metric chooser is the title: the plot shares its row with the loss plot
        head.addWidget(self.metric_box, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.caption_label)
        layout.addWidget(self.best_label)
        self.metric_box.currentIndexChanged.connect(self._redraw)
        self._redraw()

    # -- feeding -------------------------------------------------------------------------------------
    def add_point(self, event: MetricsEvent) -> None:
        """One live point (a MetricsEvent from the training worker)."""
        self._points[event.step] = dict(event.metrics)
        self._errors[event.step] = dict(event.errors or {})
        if event.floor is not None:
            self._floor = dict(event.floor)
            self._floor_errors = dict(event.floor_errors or {})
        if event.protocol is not None:
            self._protocol = event.protocol
        self._best_step = event.best_step
        self._redraw()

    def set_points(self, points: list[MetricsEvent] | tuple[MetricsEvent, ...], floor: dict[str, float] | None,
                   best_step: int | None) -> None:
        self._points = {p.step: dict(p.metrics) for p in points}
        self._errors = {p.step: dict(p.errors or {}) for p in points}
        self._floor, self._best_step = (dict(floor) if floor else None), best_step
        self._floor_errors = next((dict(p.floor_errors) for p in points if p.floor_errors), None)
        self._protocol = next((p.protocol for p in reversed(tuple(points)) if p.protocol is not None), None)
        self._redraw()

    def load_run(self, run_path: str | Path) -> None:
        """The stored curve of a reopened run (empty for a run without metrics.jsonl)."""
        stored = read_metrics(Path(run_path))
        self.set_points(stored.points, stored.floor, stored.best_step)

    def clear(self) -> None:
        self.set_points((), None, None)

    # -- reading (tests, screenshots) ---------------------------------------------------------------
    @property
    def metric(self) -> str:
        return str(self.metric_box.currentData())

    def set_metric(self, key: str) -> None:
        self.metric_box.setCurrentIndex(list(METRIC_LABELS).index(key))

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of the shown metric, by step."""
        steps = sorted(s for s, m in self._points.items() if self.metric in m)
        return np.array(steps, np.float64), np.array([self._points[s][self.metric] for s in steps], np.float64)

    def errors(self) -> np.ndarray:
        """The bootstrap standard error of each point of `series()` (NaN where a point has none: older runs)."""
        steps, _ = self.series()
        return np.array([self._errors.get(int(s), {}).get(self.metric, np.nan) for s in steps], np.float64)

    def floor_value(self) -> float | None:
        return self._floor.get(self.metric) if self._floor else None

    def floor_error(self) -> float | None:
        return self._floor_errors.get(self.metric) if self._floor_errors else None

    def table(self) -> tuple[list[str], list[list[float | str]]]:
        """The shown metric's data for a CSV: step, value, error, floor, floor error, protocol."""
        steps, values = self.series()
        errors, floor, floor_error = self.errors(), self.floor_value(), self.floor_error()
        protocol = self._protocol.caption("") if self._protocol is not None else ""
        rows = [[int(s), v, "" if np.isnan(e) else e, "" if floor is None else floor,
                 "" if floor_error is None else floor_error, protocol] for s, v, e in zip(steps, values, errors)]
        return ["step", self.metric, f"{self.metric}_error", "floor", "floor_error", "protocol"], rows

    @property
    def best_step(self) -> int | None:
        return self._best_step

    # -- drawing --------------------------------------------------------------------------------------
    def _redraw(self) -> None:
        steps, values = self.series()
        self.curve.setData(steps, values)
        self.plot.setLabel("left", METRIC_LABELS[self.metric].split(" (")[0])
        errors = self.errors()
        has_band = len(steps) > 1 and not np.isnan(errors).any()
        self._upper.setData(steps if has_band else np.zeros(0), values + errors if has_band else np.zeros(0))
        self._lower.setData(steps if has_band else np.zeros(0), values - errors if has_band else np.zeros(0))
        self.band.setVisible(has_band)
        floor, floor_error = self.floor_value(), self.floor_error()
        self.floor_line.setVisible(floor is not None)
        if floor is not None:
            self.floor_line.setValue(floor)
        has_floor_band = floor is not None and floor_error is not None and len(steps) > 0
        span = [steps[0], steps[-1]] if len(steps) else []
        none = np.zeros(0)
        self._floor_upper.setData(np.array(span) if has_floor_band else none,
                                  np.array([floor + floor_error] * 2) if has_floor_band else none)
        self._floor_lower.setData(np.array(span) if has_floor_band else none,
                                  np.array([floor - floor_error] * 2) if has_floor_band else none)
        self.floor_band.setVisible(has_floor_band)
        self.caption_label.setText(self._caption(steps, values, errors))
        best = self._best_step
        if best is not None and best in self._points and self.metric in self._points[best]:
            self.best_marker.setData([best], [self._points[best][self.metric]])
            swd = self._points[best].get("swd")
            swd_error = self._errors.get(best, {}).get("swd")
            self.best_label.setText(f"best: step {best}"
                                    + (f" (SWD {format_with_error(swd, swd_error)})" if swd is not None else "")
                                    + ", checkpoint kept")
        else:
            self.best_marker.setData([], [])
            self.best_label.setText("")
        self.empty_label.setVisible(len(steps) == 0)
        show_values(self.plot, len(steps) > 0)
        frame(self.plot, steps, unit_interval=self.metric in UNIT_METRICS)

    def _caption(self, steps: np.ndarray, values: np.ndarray, errors: np.ndarray) -> str:
        """The protocol, the last point ± its error beside the floor, and the floor note, if any."""
        if len(steps) == 0:
            return ""
        protocol = (self._protocol.caption("") if self._protocol is not None
                    else "protocol not stored (a run from before issue 21)")
        error = None if np.isnan(errors[-1]) else float(errors[-1])
        text = f"{protocol}<br>step {int(steps[-1])}: {format_with_error(float(values[-1]), error)}"
        floor = self.floor_value()
        if floor is not None:
            text += f" · real {format_with_error(floor, self.floor_error())}"
            note = floor_note(self.metric, float(values[-1]), error, floor, self.floor_error())
            if note:
                text += f" <i>({note})</i>"
        self.caption_label.setToolTip("The band and ± are one bootstrap standard error of each score; real vs real is "
                                      "scored under the same protocol" if error is not None else "")
        return text
