"""The schedule's curves against t, drawn with pyqtgraph: ᾱ_t, √ᾱ_t, √(1-ᾱ_t) and log SNR(t).

√ᾱ_t and √(1-ᾱ_t) are the weights of x_0 and ε in x_t (Ho et al. 2020, eq. 4); SNR(t) = ᾱ_t/(1-ᾱ_t)
(Kingma et al. 2021). t runs over the paper's 0…T with ᾱ_0 = 1, so the curves line up with the slider.
A vertical marker follows the current t; a second schedule is drawn dashed for comparison. Each plot has its
legend in a row below its axis (never over the curves), naming every curve with its schedule.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from ddpm_studio.engine.schedules import NoiseSchedule

COLORS = {"alpha_bar": (31, 119, 180), "sqrt_alpha_bar": (44, 160, 44),
          "sqrt_one_minus_alpha_bar": (214, 39, 40), "log_snr": (148, 103, 189)}
LABELS = {"alpha_bar": "ᾱ_t", "sqrt_alpha_bar": "√ᾱ_t", "sqrt_one_minus_alpha_bar": "√(1-ᾱ_t)",
          "log_snr": "log SNR"}
MARKER_COLOR = (230, 140, 0)
MIN_PLOT_HEIGHT = 150  # px
MIN_PLOT_WIDTH = 260  # px


def schedule_series(schedule: NoiseSchedule) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(t, values) per curve; ᾱ-based curves over t = 0..T (ᾱ_0 = 1), log SNR over t = 1..T."""
    abar = torch.cat([torch.ones(1, dtype=torch.float64), schedule.alphas_cumprod.to(torch.float64).cpu()]).numpy()
    t = np.arange(abar.shape[0], dtype=np.float64)
    return {"alpha_bar": (t, abar), "sqrt_alpha_bar": (t, np.sqrt(abar)),
            "sqrt_one_minus_alpha_bar": (t, np.sqrt(1.0 - abar)),
            "log_snr": (t[1:], schedule.log_snr.to(torch.float64).cpu().numpy())}


class ScheduleCurves(QWidget):
    """Two stacked plots with a shared marker at the current t.

    `curves` maps "alpha_bar", "sqrt_alpha_bar", "sqrt_one_minus_alpha_bar", "log_snr" (and the same
    names + "@2" for the compared schedule) to their PlotDataItems.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Schedule curves")
        self.coefficients = pg.PlotWidget()
        self.coefficients.setAccessibleName("Plot of ᾱ, √ᾱ and √(1-ᾱ) against t")
        self.snr = pg.PlotWidget()
        self.snr.setAccessibleName("Plot of log SNR against t")
        for plot, title in ((self.coefficients, "ᾱ_t, √ᾱ_t, √(1-ᾱ_t)"), (self.snr, "log SNR(t) = log ᾱ_t/(1-ᾱ_t)")):
            plot.setTitle(title)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setLabel("bottom", "t")
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            for name in ("left", "bottom"):
                # the axes also draw the grid; cache them as pixmaps so a moving marker repaints cheaply
                plot.getPlotItem().getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.coefficients.setYRange(0, 1.02, padding=0)
        self.legend = _legend_below(self.coefficients, columns=3)
        self.snr_legend = _legend_below(self.snr, columns=2)
        for plot in (self.coefficients, self.snr):
            plot.setMinimumHeight(MIN_PLOT_HEIGHT)  # crushed plots are unreadable: the window scrolls first
        self.setMinimumWidth(MIN_PLOT_WIDTH)
        self.markers = [pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(MARKER_COLOR, width=2))
                        for _ in range(2)]
        self.coefficients.addItem(self.markers[0])
        self.snr.addItem(self.markers[1])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.coefficients, 3)
        layout.addWidget(self.snr, 2)
        self.curves: dict[str, pg.PlotDataItem] = {}

    def plot(self, schedules: list[NoiseSchedule]) -> None:
        """Show the curves of `schedules` (one, or two to compare; the second dashed)."""
        wanted = {key + ("@2" if k else "") for k in range(len(schedules)) for key in LABELS}
        for key in [k for k in self.curves if k not in wanted]:
            item = self.curves.pop(key)
            (self.snr if key.startswith("log_snr") else self.coefficients).removeItem(item)
        self.legend.clear()
        self.snr_legend.clear()
        for k, schedule in enumerate(schedules):
            for key, (t, values) in schedule_series(schedule).items():
                name = key + ("@2" if k else "")
                item = self.curves.get(name)
                if item is None:
                    color = COLORS[key] if k == 0 else tuple(int(c * 0.6) for c in COLORS[key])
                    pen = pg.mkPen(color, width=2, style=Qt.PenStyle.SolidLine if k == 0 else Qt.PenStyle.DashLine)
                    item = pg.PlotDataItem(pen=pen)
                    item.curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
                    (self.snr if key == "log_snr" else self.coefficients).addItem(item)
                    self.curves[name] = item
                item.setData(t, values)
                legend = self.snr_legend if key == "log_snr" else self.legend
                legend.addItem(item, f"{LABELS[key]} ({schedule.name})")
        timesteps = schedules[0].timesteps
        for plot in (self.coefficients, self.snr):
            plot.setXRange(0, timesteps, padding=0.01)
        self.snr.enableAutoRange(axis="y")

    def set_marker(self, t: int) -> None:
        """Move the vertical marker of both plots to t."""
        for marker in self.markers:
            marker.setValue(t)


def _legend_below(plot: pg.PlotWidget, columns: int) -> pg.LegendItem:
    """A legend in its own row under the plot's bottom axis (inside the plot it would hide the curves)."""
    legend = pg.LegendItem(colCount=columns, verSpacing=-6, horSpacing=12)
    layout = plot.getPlotItem().layout
    layout.addItem(legend, 4, 1)
    layout.setRowStretchFactor(4, 0)
    return legend
