"""The selected runs' curves on shared axes: one colour per run (the same in both plots), a legend, x over
steps, training time or images seen. The top plot shows a per-step scalar of the history (the loss, or any
other the runs store: learning rate, gradient norm), faint raw and strong smoothed; the bottom one a quality
metric of the EMA model, with each run's real-vs-real floor dashed. It draws what `app.run_table.run_curves`
computed; it computes nothing itself."""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ddpm_studio.app.run_table import METRIC_LABELS, X_AXES, X_LABELS, RunCurves
from ddpm_studio.gui.widgets.plot_axes import plain_axes, show_values

# ten colours told apart by most eyes (Tableau 10); the eleventh run reuses the first
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
EMPTY_TEXT = "select runs in the table to draw their curves"
NO_QUALITY_TEXT = "the selected runs were not scored while they trained"


def run_colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def _plot(title: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(axisItems=plain_axes())
    plot.setBackground("w")
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setTitle(title, color="#333", size="10pt")
    plot.addLegend(offset=(-10, 10), labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 200))
    plot.setMinimumHeight(150)
    return plot


class RunCurvesPlot(QWidget):
    """Two plots of the runs given to `show_curves`; the combo boxes choose x, the scalar and the metric."""

    choices_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._curves: tuple[RunCurves, ...] = ()
        self.x_axis = QComboBox()
        for axis in X_AXES:
            self.x_axis.addItem(X_LABELS[axis], axis)
        self.scalar = QComboBox()
        self.metric = QComboBox()
        self.loss_plot, self.quality_plot = _plot("loss"), _plot("quality")
        self.quality_plot.setXLink(self.loss_plot)  # one x range for both: a step is at the same place in each
        self.caption = QLabel(EMPTY_TEXT)
        self.caption.setStyleSheet("color: #666;")
        controls = QHBoxLayout()
        for label, box in (("x", self.x_axis), ("curve", self.scalar), ("quality", self.metric)):
            controls.addWidget(QLabel(label))
            controls.addWidget(box)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.loss_plot, 1)
        layout.addWidget(self.quality_plot, 1)
        layout.addWidget(self.caption)
        for box in (self.x_axis, self.scalar, self.metric):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            box.currentIndexChanged.connect(self._redraw)
        self._redraw()

    # -- what the plots hold (tests read these) ----------------------------------------------------
    def scalar_curves(self) -> list[pg.PlotDataItem]:
        """The top plot's smoothed curves, one per run (the raw ones are not named)."""
        return [item for item in self.loss_plot.listDataItems() if item.name()]

    def quality_curves(self) -> list[pg.PlotDataItem]:
        return [item for item in self.quality_plot.listDataItems() if item.name()]

    # -- input ----------------------------------------------------------------------------------------
    def show_curves(self, curves: Sequence[RunCurves]) -> None:
        """Draw these runs (in this order: colours follow it)."""
        self._curves = tuple(curves)
        self._fill(self.scalar, sorted({k for c in self._curves for k in c.scalars}), prefer="loss")
        self._fill(self.metric, sorted({k for c in self._curves for k in c.quality}), prefer="swd")
        self._redraw()

    @staticmethod
    def _fill(box: QComboBox, names: list[str], prefer: str) -> None:
        current = box.currentData() or prefer
        box.blockSignals(True)
        box.clear()
        for name in names:
            box.addItem(METRIC_LABELS.get(name, name.replace("_", " ")), name)
        box.setCurrentIndex(max(0, box.findData(current if current in names else prefer)))
        box.blockSignals(False)

    # -- drawing --------------------------------------------------------------------------------------
    def _redraw(self) -> None:
        axis, scalar, metric = self.x_axis.currentData(), self.scalar.currentData(), self.metric.currentData()
        for plot in (self.loss_plot, self.quality_plot):
            plot.clear()
            plot.setLabel("bottom", X_LABELS[axis])
        self.loss_plot.setTitle(scalar.replace("_", " ") if scalar else "loss", color="#333", size="10pt")
        self.quality_plot.setTitle(METRIC_LABELS.get(metric, metric or "quality"), color="#333", size="10pt")
        self.loss_plot.setLogMode(y=scalar == "loss")
        scored = False
        for index, curves in enumerate(self._curves):
            colour = run_colour(index)
            if scalar in curves.scalars:
                x, raw = curves.x(axis), curves.scalars[scalar]
                if scalar in curves.smoothed:  # a noisy measurement: faint as measured, strong smoothed
                    self.loss_plot.plot(x, raw, pen=pg.mkPen((*colour, 60), width=1))
                    self.loss_plot.plot(x, curves.smoothed[scalar], pen=pg.mkPen(colour, width=2), name=curves.name)
                else:  # a schedule (the learning rate): as it is
                    self.loss_plot.plot(x, raw, pen=pg.mkPen(colour, width=2), name=curves.name)
            if metric in curves.quality and len(curves.quality_step):
                scored = True
                self.quality_plot.plot(curves.x(axis, quality=True), curves.quality[metric],
                                       pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5,
                                       symbolBrush=colour, symbolPen=None, name=curves.name)
                if metric in curves.floor:
                    line = pg.InfiniteLine(pos=curves.floor[metric], angle=0,
                                           pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine))
                    self.quality_plot.addItem(line)
        show_values(self.loss_plot, bool(self._curves))
        show_values(self.quality_plot, scored)
        self.caption.setText(self._caption(scored))
        self.choices_changed.emit()

    def _caption(self, scored: bool) -> str:
        if not self._curves:
            return EMPTY_TEXT
        parts = [f"{len(self._curves)} run(s); smoothed curves strong, raw faint"]
        if not scored:
            parts.append(NO_QUALITY_TEXT)
        else:
            if any(c.floor for c in self._curves):
                parts.append("dashed: each run's real-vs-real floor")
            protocols = sorted({c.protocol for c in self._curves if len(c.quality_step)})
            if len(protocols) == 1:
                parts.append(f"quality measured with {protocols[0]}")
            else:
                parts.append("the runs were scored with different protocols (" + " | ".join(protocols) +
                             "): their scores do not compare")
        return "; ".join(parts)
