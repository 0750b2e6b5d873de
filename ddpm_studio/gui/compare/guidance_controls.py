"""The Compare-samplers tab's guidance-sweep half (issue 20, item 5): the controls of `app.guidance_sweep` (the
scales w, one sampler at one NFE budget, the guide model for autoguidance) and its display: the metric against
w as a pyqtgraph curve (the quality/diversity trade-off) and a table of every metric per w. A view only: the
sweep itself runs in the tab's TaskRunner."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ddpm_studio.app.guidance_sweep import GUIDANCE_SCALES, GuidancePoint, GuidanceSweepSettings, guide_candidates
from ddpm_studio.app.sweep_plot import GUIDANCE_COLOUR
from ddpm_studio.engine import SAMPLERS
from ddpm_studio.evaluation.uncertainty import format_with_error
from ddpm_studio.gui.widgets.error_bars import add_error_bars

GUIDANCE_METRICS = ("swd", "precision", "recall", "faithfulness")
METRIC_ROWS = {"swd": "SWD ×10³", "precision": "precision", "recall": "recall", "faithfulness": "class faithfulness"}
NO_GUIDE = ""  # the guide chooser's "none: classifier-free guidance"


class GuidanceControls(QGroupBox):
    """Scales, sampler, NFE budget and guide of a guidance sweep."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Guidance sweep (one model, one sampler)", parent)
        defaults = GuidanceSweepSettings()
        self.scale_boxes: dict[float, QCheckBox] = {}
        scales = QHBoxLayout()
        for w in GUIDANCE_SCALES:
            box = self.scale_boxes[w] = QCheckBox(f"{w:g}")
            box.setChecked(True)
            box.setToolTip("w = 0: unconditional (or the guide alone); 1: the plain model; > 1: guided")
            scales.addWidget(box)
        self.method_combo = QComboBox()
        self.method_combo.setAccessibleName("Guidance sweep sampler")
        for method in SAMPLERS:
            self.method_combo.addItem(SAMPLERS.label(method), method)
        self.method_combo.setCurrentIndex(self.method_combo.findData(defaults.method))
        self.budget = QSpinBox()
        self.budget.setAccessibleName("Guidance sweep NFE budget")
        self.budget.setRange(1, 1000)
        self.budget.setValue(defaults.budget)
        self.guide_combo = QComboBox()
        self.guide_combo.setAccessibleName("Guide model (autoguidance)")
        self.guide_combo.setToolTip("none: classifier-free guidance towards the classes (a class-conditional model);"
                                    " a weaker model of the same shape and data: autoguidance away from it")
        grid = QGridLayout(self)
        grid.addWidget(QLabel("Scales w"), 0, 0)
        grid.addLayout(scales, 0, 1)
        grid.addWidget(QLabel("Sampler"), 1, 0)
        grid.addWidget(self.method_combo, 1, 1)
        grid.addWidget(QLabel("NFE"), 2, 0)
        grid.addWidget(self.budget, 2, 1)
        grid.addWidget(QLabel("Guide"), 3, 0)
        grid.addWidget(self.guide_combo, 3, 1)
        self.offer_guides(None, [])

    def offer_guides(self, model: str | None, others: list[tuple[str, str]]) -> None:
        """The guide choices for `model`: none (CFG), the earlier checkpoints of its run, then `others` (label,
        path) other than the model itself. The current guide stays chosen when still offered."""
        current = self.guide_combo.currentData()
        self.guide_combo.clear()
        self.guide_combo.addItem("none: classifier-free guidance", NO_GUIDE)
        if model:
            for label, path in guide_candidates(model):
                self.guide_combo.addItem(f"{label} (autoguidance)", str(path))
        for label, path in others:
            if path != model:
                self.guide_combo.addItem(f"{label} (autoguidance)", path)
        index = self.guide_combo.findData(current) if current is not None else -1
        self.guide_combo.setCurrentIndex(max(0, index))

    def settings(self, count: int) -> GuidanceSweepSettings:
        scales = tuple(w for w, box in self.scale_boxes.items() if box.isChecked())
        return GuidanceSweepSettings(scales=scales, method=str(self.method_combo.currentData()),
                                     budget=self.budget.value(), count=count)

    def guide(self) -> str | None:
        data = self.guide_combo.currentData()
        return str(data) if data else None


def guide_label(path: str | None) -> str:
    return "classifier-free" if path is None else f"autoguided by {Path(path).name}"


def draw_guidance(plot: pg.PlotWidget, legend, points: dict[float, GuidancePoint], floor: dict[str, float] | None,
                  metric: str, label: str) -> None:
    """`metric` against w as one curve (linear x), with the real-vs-real floor dashed when it has one."""
    shown = sorted((w, p.metrics[metric], p.errors.get(metric, 0.0)) for w, p in points.items() if metric in p.metrics)
    if shown:
        xs, ys = np.array([p[0] for p in shown], float), np.array([p[1] for p in shown], float)
        plot.plot(xs, ys, pen=pg.mkPen(GUIDANCE_COLOUR, width=2), symbol="o", symbolBrush=GUIDANCE_COLOUR,
                  symbolSize=7, symbolPen=None, name=label)
        add_error_bars(plot, xs, ys, np.array([p[2] for p in shown], float), GUIDANCE_COLOUR)
    value = (floor or {}).get(metric)
    if value is not None and math.isfinite(value):
        plot.addItem(pg.InfiniteLine(pos=value, angle=0, pen=pg.mkPen((90, 90, 90), width=1.5,
                                                                      style=Qt.PenStyle.DashLine)))
        legend.addItem(pg.PlotDataItem(pen=pg.mkPen((90, 90, 90), style=Qt.PenStyle.DashLine)), "real vs real (floor)")


def fill_guidance_table(table: QTableWidget, points: dict[float, GuidancePoint],
                        floor: dict[str, float] | None) -> None:
    """Rows: the metrics; columns: w (then the floor). A cell's tooltip gives its cost and whether it was cached."""
    scales = sorted(points)
    metrics = [m for m in GUIDANCE_METRICS if any(m in p.metrics for p in points.values())]
    with_floor = bool(floor) and bool(scales)
    table.clear()
    table.clearSpans()
    table.setRowCount(len(metrics))
    table.setColumnCount(len(scales) + with_floor)
    table.setHorizontalHeaderLabels([f"w = {w:g}" for w in scales] + (["real vs real"] if with_floor else []))
    table.setVerticalHeaderLabels([METRIC_ROWS[m] for m in metrics])
    for c, w in enumerate(scales):
        point = points[w]
        for r, metric in enumerate(metrics):
            if metric in point.metrics:
                item = QTableWidgetItem(format_with_error(point.metrics[metric], point.errors.get(metric)))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setToolTip(f"w = {w:g}: {point.evaluations} network inputs per image"
                                + (" (cached)" if point.cached else f", {point.seconds:.1f} s"))
                table.setItem(r, c, item)
    if with_floor:
        for r, metric in enumerate(metrics):
            if metric in floor:
                item = QTableWidgetItem(f"{floor[metric]:.3g}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setToolTip("real images measured against other real images: the best a model can reach here")
                table.setItem(r, len(scales), item)
    table.resizeColumnsToContents()
