"""Live loss curves: raw and EMA-smoothed training loss, the validation loss of the held-out images over them
(training/validation.py: the gap between the two is the earliest sign of memorisation), and the loss by timestep
bucket.

Built for thousands of points without lag: samples go into preallocated numpy buffers (amortised
doubling), the curves use pyqtgraph's peak downsampling and clip-to-view, and the redraw is throttled to
~15 Hz by a QTimer that only repaints when something changed. Appending never touches the scene.

The smoothed curve is TensorBoard's: a bias-corrected exponential moving average whose weight a person sets
with a slider (0 = raw, 0.99 = very smooth). The log-scale axis labels at most one value per ~40 px (decades,
then 2 and 5 within a decade); an empty plot says "no steps yet" instead of showing a meaningless axis. The
context menu exports the data (CSV) and the image (PNG).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ddpm_studio.gui.widgets.plot_axes import show_values
from ddpm_studio.gui.widgets.plot_export import install_export_menu

REDRAW_HZ = 15
EMPTY_MESSAGE = "no data yet: filled in while a run trains"
NOT_STORED_MESSAGE = "no data yet: filled in while a run trains\n(not stored with the run)"  # runs made before it was
UNREADABLE_MESSAGE = "the stored loss by timestep could not be read\n(filled in again when the run resumes)"
NO_STEPS_MESSAGE = "no steps yet"
LIVE_CAPTION = "recent steps, live"
RAW_PEN = pg.mkPen((120, 160, 220, 110), width=1)
SMOOTH_PEN = pg.mkPen((20, 80, 200), width=2)
VALIDATION_PEN = pg.mkPen((220, 110, 0), width=2)
VALIDATION_BRUSH = pg.mkBrush(220, 110, 0)
DEFAULT_SMOOTHING = 0.9  # the EMA weight: an effective window of ~1 / (1 - 0.9) = 10 steps
SMOOTHING_STEPS = 100  # the slider's resolution: weights 0.00 .. 0.99
MIN_PLOT_HEIGHT = 170  # px: the loss plot never shrinks below this (at 1024x700 it had ~110)
LABEL_SPACING_PX = 40  # at most one tick label per this many pixels of axis


def smoothed(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's bias-corrected EMA: m_n = w·m_{n-1} + (1-w)·x_n, s_n = m_n / (1 - w^n).

    Non-finite values are skipped (they keep the previous average); before any finite value, s_n = x_n.
    """
    out = np.empty(len(values), np.float64)
    ema = norm = 0.0
    for i, x in enumerate(np.asarray(values, np.float64)):
        if math.isfinite(x):
            ema = weight * ema + (1.0 - weight) * x
            norm = weight * norm + (1.0 - weight)
        out[i] = ema / norm if norm > 0 else x
    return out


class _Series:
    """A growable (step, value) buffer with a bias-corrected exponential moving average of the values."""

    def __init__(self, smoothing: float) -> None:
        self.smoothing = smoothing
        self.steps = np.zeros(1024, np.float64)
        self.values = np.zeros(1024, np.float64)
        self.smooth = np.zeros(1024, np.float64)
        self.count = 0
        self._ema = 0.0
        self._weight = 0.0

    def append(self, step: float, value: float) -> None:
        if self.count and step <= self.steps[self.count - 1]:
            self._rewind(step)
        if self.count == len(self.steps):
            for name in ("steps", "values", "smooth"):
                old = getattr(self, name)
                new = np.zeros(2 * len(old), np.float64)
                new[:self.count] = old[:self.count]
                setattr(self, name, new)
        # Debiased EMA (`smoothed`, one value at a time): s_n = m_n / (1 - a^n).
        if np.isfinite(value):
            self._ema = self.smoothing * self._ema + (1.0 - self.smoothing) * value
            self._weight = self.smoothing * self._weight + (1.0 - self.smoothing)
        i = self.count
        self.steps[i], self.values[i] = step, value
        self.smooth[i] = self._ema / self._weight if self._weight > 0 else value
        self.count += 1

    def _rewind(self, step: float) -> None:
        """Drop the points at `step` and after: a resume from an older checkpoint (the newest was damaged)
        trains those steps again, and the curve must not loop back over the lost ones (issue 23 F20)."""
        keep = int(np.searchsorted(self.steps[:self.count], step, side="left"))
        steps, values = self.steps[:keep].copy(), self.values[:keep].copy()
        self.count, self._ema, self._weight = 0, 0.0, 0.0
        for s, v in zip(steps, values):
            self.append(float(s), float(v))

    def set_smoothing(self, smoothing: float) -> None:
        """A new EMA weight: the whole smoothed curve is recomputed."""
        self.smoothing = smoothing
        n = self.count
        self.smooth[:n] = smoothed(self.values[:n], smoothing)
        finite = self.values[:n][np.isfinite(self.values[:n])]
        self._weight = 1.0 - smoothing ** len(finite)
        self._ema = self.smooth[n - 1] * self._weight if n and self._weight > 0 else 0.0

    def clear(self) -> None:
        self.count, self._ema, self._weight = 0, 0.0, 0.0


class LogLossAxis(pg.AxisItem):
    """A loss axis whose log mode labels few, plain values: decades, then 2 and 5 (or 1..9) within a decade."""

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        if not (math.isfinite(minVal) and math.isfinite(maxVal)) or maxVal <= minVal:
            return []
        room = max(2, int(size // LABEL_SPACING_PX))
        lo, hi = math.floor(minVal), math.ceil(maxVal)
        for mantissas in ((1,), (1, 2, 5), (1, 2, 3, 5, 7), tuple(range(1, 10))):
            values = [d + math.log10(m) for d in range(lo, hi + 1) for m in mantissas]
            values = [v for v in values if minVal <= v <= maxVal]
            if len(values) >= 2 or mantissas[-1] == 9:
                break
        if len(values) > room:  # too many decades for the height: every k-th one
            k = math.ceil(len(values) / room)
            values = values[::k]
        return [(None, values)]

    def logTickStrings(self, values, scale, spacing):
        return [f"{10.0 ** v * scale:.3g}" for v in values]


class LossPlot(QWidget):
    """Training loss against step: raw (thin) + smoothed (bold), a smoothing slider and a log-scale toggle."""

    def __init__(self, parent: QWidget | None = None, *, smoothing: float = DEFAULT_SMOOTHING) -> None:
        super().__init__(parent)
        self._series = _Series(smoothing)
        self._dirty = False
        self.plot = pg.PlotWidget(background="w", axisItems={"left": LogLossAxis("left")})
        self.plot.setMinimumHeight(MIN_PLOT_HEIGHT)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # no "loss (x0.001)": show the losses as they are
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.addLegend(offset=(-10, 10))
        self._raw = self.plot.plot(pen=RAW_PEN, name="loss")
        self._smooth = self.plot.plot(pen=SMOOTH_PEN, name="smoothed")
        for curve in (self._raw, self._smooth):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            curve.setSkipFiniteCheck(False)
        # the validation loss: a few points, each a circle (in the legend once it has a point, with its protocol)
        self._validation = self.plot.plot(pen=VALIDATION_PEN, symbol="o", symbolSize=6, symbolBrush=VALIDATION_BRUSH,
                                          symbolPen=None)
        self._validation_points: list[tuple[float, float]] = []
        self._validation_caption: str | None = None
        self._empty = pg.TextItem(NO_STEPS_MESSAGE, color=(110, 110, 110), anchor=(0.5, 0.5))
        self.plot.addItem(self._empty, ignoreBounds=True)
        install_export_menu(self.plot, self.table, lambda: "training_loss")
        self.log_box = QCheckBox("log scale")
        self.log_box.toggled.connect(self.set_log_scale)
        self.smooth_box = QCheckBox("smoothed")
        self.smooth_box.setChecked(True)
        self.smooth_box.toggled.connect(self._smooth.setVisible)
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, SMOOTHING_STEPS - 1)
        self.smoothing_slider.setValue(round(smoothing * SMOOTHING_STEPS))
        self.smoothing_slider.setFixedWidth(90)
        self.smoothing_slider.setToolTip("Smoothing of the bold curve: the weight w of a bias-corrected "
                                         "exponential moving average (as TensorBoard's), 0 = none.")
        self.smoothing_slider.valueChanged.connect(lambda v: self.set_smoothing(v / SMOOTHING_STEPS))
        self.smoothing_label = QLabel()
        self.smoothing_label.setMinimumWidth(self.smoothing_label.fontMetrics().horizontalAdvance("0.00") + 4)
        # the values get a row of their own under the controls: beside them they were elided at 1280 px and
        # vanished at 1024 (issue 22 N8); "last 0.04512 · smoothed 0.04498" fits the narrowest column
        self.last_label = QLabel("")
        self.last_label.setAccessibleName("Last and smoothed loss")
        self.last_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.last_label.setMinimumHeight(self.last_label.fontMetrics().height())  # no jump when values arrive
        controls = QHBoxLayout()
        controls.addWidget(QLabel("<b>Loss</b>"))
        controls.addStretch(1)
        controls.addWidget(self.smooth_box)
        controls.addWidget(self.smoothing_slider)
        controls.addWidget(self.smoothing_label)
        controls.addWidget(self.log_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.last_label)
        layout.addWidget(self.plot, 1)
        self._show_smoothing()
        self._show_empty(True)
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / REDRAW_HZ))
        self._timer.timeout.connect(self._redraw)
        self._timer.start()

    # -- data ----------------------------------------------------------------------------------
    def append(self, step: int, loss: float) -> None:
        """Add one point; the curve repaints at the next throttled tick."""
        self._series.append(float(step), float(loss))
        self._dirty = True

    def set_history(self, steps: Sequence[float], losses: Sequence[float]) -> None:
        """Replace everything with a recorded history (a reopened run)."""
        self._series.clear()
        for step, loss in zip(steps, losses):
            self._series.append(float(step), float(loss))
        self._dirty = True
        self._redraw()

    def add_validation(self, step: int, loss: float, caption: str) -> None:
        """One validation-loss point (`caption` says what it measured, for the legend); points at `step` and after
        are dropped first (a resume from an older checkpoint scores those steps again)."""
        self._validation_points = [p for p in self._validation_points if p[0] < step] + [(float(step), float(loss))]
        self._set_validation_caption(caption)
        self._dirty = True

    def set_validation(self, points: Sequence[tuple[float, float]], caption: str | None) -> None:
        """Replace the validation curve with stored (step, loss) points (a reopened run; none: no curve)."""
        self._validation_points = [(float(s), float(v)) for s, v in points]
        self._set_validation_caption(caption if self._validation_points else None)
        self._dirty = True
        self._redraw()

    def validation_data(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, validation losses) of the validation curve."""
        pts = np.asarray(self._validation_points, np.float64).reshape(-1, 2)
        return pts[:, 0].copy(), pts[:, 1].copy()

    def validation_caption(self) -> str | None:
        """The validation curve's legend entry, None while there is no curve."""
        return self._validation_caption

    def legend_names(self) -> list[str]:
        """The names the legend shows, top to bottom."""
        return [label.text for _, label in self.plot.plotItem.legend.items]

    def _set_validation_caption(self, caption: str | None) -> None:
        if caption == self._validation_caption:
            return
        legend = self.plot.plotItem.legend
        if self._validation_caption is not None:
            legend.removeItem(self._validation)
        if caption is not None:
            legend.addItem(self._validation, caption)
        self._validation_caption = caption

    def clear(self) -> None:
        """Forget all points."""
        self._series.clear()
        self._validation_points = []
        self._set_validation_caption(None)
        self._dirty = True
        self._redraw()

    def point_count(self) -> int:
        """Number of points received (drawn or pending)."""
        return self._series.count

    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of (steps, raw losses, smoothed losses)."""
        n = self._series.count
        return self._series.steps[:n].copy(), self._series.values[:n].copy(), self._series.smooth[:n].copy()

    def table(self) -> tuple[list[str], list[list[float]]]:
        """(header, rows) of the plot's data for a CSV: step, loss, smoothed loss (and the validation loss at the
        steps it was scored, empty elsewhere, when the run has one)."""
        steps, raw, smooth = self.data()
        if not self._validation_points:
            return ["step", "loss", "smoothed"], [[int(s), r, m] for s, r, m in zip(steps, raw, smooth)]
        val = {int(s): v for s, v in self._validation_points}
        return (["step", "loss", "smoothed", "validation"],
                [[int(s), r, m, val.get(int(s), "")] for s, r, m in zip(steps, raw, smooth)])

    def smoothing(self) -> float:
        """The EMA weight of the smoothed curve."""
        return self._series.smoothing

    def is_empty_shown(self) -> bool:
        """True while the plot shows "no steps yet" in place of curves."""
        return self._empty.isVisible()

    # -- view ----------------------------------------------------------------------------------
    def set_smoothing(self, weight: float) -> None:
        """The EMA weight w in [0, 1) of the smoothed curve (the slider follows; the curve is recomputed)."""
        weight = min(max(float(weight), 0.0), (SMOOTHING_STEPS - 1) / SMOOTHING_STEPS)
        position = round(weight * SMOOTHING_STEPS)
        if self.smoothing_slider.value() != position:
            self.smoothing_slider.setValue(position)  # -> set_smoothing(position / SMOOTHING_STEPS)
            return
        self._series.set_smoothing(weight)
        self._show_smoothing()
        self._dirty = True
        self._redraw()

    def set_log_scale(self, on: bool) -> None:
        """Logarithmic loss axis (the loss of ε-prediction spans decades early in training)."""
        if self.log_box.isChecked() != on:
            self.log_box.setChecked(on)
            return
        self.plot.setLogMode(x=False, y=on)
        self._dirty = True
        self._redraw()

    def _show_smoothing(self) -> None:
        self.smoothing_label.setText(f"{self._series.smoothing:.2f}")

    def _show_empty(self, empty: bool) -> None:
        """With no points: the message centred and no tick values (an empty axis range means nothing)."""
        self._empty.setVisible(empty)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setStyle(showValues=not empty)
        if empty:
            self.plot.getViewBox().setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            self._empty.setPos(0.5, 0.5)
            self.plot.getViewBox().enableAutoRange()

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        n = self._series.count
        self._show_empty(n == 0 and not self._validation_points)
        steps, values, smooth = (self._series.steps[:n], self._series.values[:n], self._series.smooth[:n])
        val_steps, val_values = self.validation_data()
        if self.log_box.isChecked():  # log of non-positive values is undefined: leave them out
            keep = values > 0
            self._raw.setData(steps[keep], values[keep])
            self._smooth.setData(steps[smooth > 0], smooth[smooth > 0])
            self._validation.setData(val_steps[val_values > 0], val_values[val_values > 0])
        else:
            self._raw.setData(steps, values)
            self._smooth.setData(steps, smooth)
            self._validation.setData(val_steps, val_values)
        text = f"last {values[-1]:.4g} · smoothed {smooth[-1]:.4g}" if n else ""
        if len(val_values):
            text += f" · validation {val_values[-1]:.4g}"
        self.last_label.setText(text)


class TimestepLossPlot(QWidget):
    """Bar graph of the recent loss per timestep bucket: where in t the model still struggles.

    Live from TimestepLossEvents, or the snapshot stored with a reopened run; with no bars, a message says why.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "timestep t")
        self.plot.setLabel("left", "loss")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.showGrid(y=True, alpha=0.25)
        self._bars: pg.BarGraphItem | None = None
        self._pending: tuple[tuple[int, ...], tuple[float, ...]] | None = None
        self._dirty = False
        self._empty = pg.TextItem(EMPTY_MESSAGE, color=(110, 110, 110), anchor=(0.5, 0.5))
        self._empty.setPos(0.5, 0.5)
        self.plot.addItem(self._empty, ignoreBounds=True)
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # losses are small: no "loss (x0.001)"
        show_values(self.plot, False)  # no bars: no made-up 0.1–0.9 range (issue 13 item 13)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel()
        self._set_caption(LIVE_CAPTION)
        layout.addWidget(self.caption)
        layout.addWidget(self.plot, 1)
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / REDRAW_HZ))
        self._timer.timeout.connect(self._redraw)
        self._timer.start()

    def set_buckets(self, edges: Sequence[int], losses: Sequence[float], *, caption: str = LIVE_CAPTION) -> None:
        """Show `losses[i]` over [edges[i], edges[i+1]) (or over [edges[i], next edge) when len matches)."""
        self._pending = (tuple(int(e) for e in edges), tuple(float(v) for v in losses))
        self._dirty = True
        self._set_caption(caption)

    def bucket_values(self) -> tuple[float, ...]:
        """Heights currently shown (or pending)."""
        return self._pending[1] if self._pending else ()

    def has_bars(self) -> bool:
        """True once bars are drawn (False while only the message shows)."""
        return self._bars is not None and self._bars.isVisible()

    def message(self) -> str:
        """The text shown in place of bars (whether or not it is visible now)."""
        return self._empty.toPlainText()

    def clear(self, message: str = EMPTY_MESSAGE) -> None:
        """Remove the bars and say why there are none."""
        self._pending = None
        if self._bars is not None:
            self.plot.removeItem(self._bars)
            self._bars = None
        self._empty.setText(message)
        self._empty.show()
        show_values(self.plot, False)
        self._set_caption(LIVE_CAPTION)

    def _set_caption(self, text: str) -> None:
        self.caption.setText(f"<b>Loss by timestep</b> ({text})")

    def _redraw(self) -> None:
        if self._pending is None or not self._dirty:
            return
        self._dirty = False
        edges, losses = self._pending
        n = len(losses)
        if n == 0:
            return
        if len(edges) == n + 1:
            left, right = np.asarray(edges[:-1], float), np.asarray(edges[1:], float)
        else:
            left = np.asarray(edges[:n], float)
            step = (left[1] - left[0]) if n > 1 else 1.0
            right = np.append(left[1:], left[-1] + step)
        heights = np.nan_to_num(np.asarray(losses, float), nan=0.0, posinf=0.0)
        self._empty.hide()
        show_values(self.plot, True)
        if self._bars is None:
            self._bars = pg.BarGraphItem(x0=left, x1=right, height=heights, brush=(70, 130, 200), pen="w")
            self.plot.addItem(self._bars)
        else:
            self._bars.setOpts(x0=left, x1=right, height=heights)
