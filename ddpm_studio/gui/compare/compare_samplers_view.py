"""The Compare-samplers view: the NFE–quality curve of one model (`app.sweep.run_sweep` on a worker thread),
as a table (samplers × NFE) and a pyqtgraph plot of the chosen metric against NFE (log axis), one line per
sampler, the real-vs-real floor dashed. Cells stream in as they finish; cached cells appear at once.

Its second mode, "Sweep guidance", runs `app.guidance_sweep.run_guidance_sweep` through the same runner: one
sampler at one NFE, metrics against the guidance scale w (linear axis), classifier-free or autoguided by a
chosen guide (`guidance_controls.py`). A caption under the plot states the protocol."""

from __future__ import annotations

import math

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
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.guidance_sweep import GuidancePoint, GuidanceProgress, GuidanceSweepResult, run_guidance_sweep
from ddpm_studio.app.sweep import (
    SWEEP_METRICS,
    SWEEP_NFE,
    SweepCell,
    SweepProgress,
    SweepResult,
    SweepSettings,
    run_sweep,
)
from ddpm_studio.app.sweep_plot import SAMPLER_COLOURS
from ddpm_studio.engine import SAMPLERS
from ddpm_studio.evaluation.uncertainty import format_with_error
from ddpm_studio.gui.compare.guidance_controls import (
    GUIDANCE_METRICS,
    GuidanceControls,
    draw_guidance,
    fill_guidance_table,
    guide_label,
)
from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.widgets.error_bars import add_error_bars
from ddpm_studio.gui.widgets.model_task_view import ModelTaskView
from ddpm_studio.gui.widgets.plot_axes import frame, plain_axes, show_values

METRIC_LABELS = {"swd": "SWD ×10³ (lower is better)", "precision": "Precision (higher is better)",
                 "recall": "Recall (higher is better)", "faithfulness": "Class faithfulness (higher is better)"}
MODES = (("nfe", "Sweep NFE"), ("guidance", "Sweep guidance"))
NFE_IDLE = "Choose samplers and budgets, then Run."
GUIDANCE_IDLE = ("Choose the scales, a sampler and a guide, then Run. Classifier-free guidance needs a "
                 "class-conditional model; any model can be autoguided by a weaker one (Guide).")
def _table_order(method: str) -> int:
    """A method's place in the sampler table (a cached cell of a sampler no longer in it goes last)."""
    names = SAMPLERS.names()
    return names.index(method) if method in names else len(names)


DEFAULT_CHECKED = ("ddim", "dpmpp_2m", "euler", "heun")  # the ODE samplers the curve is about
DEFAULT_BUDGETS = (5, 10, 20, 50, 100)  # NFE = 1000 is offered but costly on a CPU, so unchecked at first


class CompareSamplersView(ModelTaskView):
    """Pick a model, samplers and NFE budgets; Run measures every cell against the current data set."""

    CANCELLING = "Cancelling after the current step…"

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, "sweep", "Run", NFE_IDLE, parent)
        self.cells: dict[tuple[str, int], SweepCell] = {}
        self.result: SweepResult | None = None
        self.points: dict[float, GuidancePoint] = {}
        self.guidance_result: GuidanceSweepResult | None = None
        self._guide: str | None = None  # the guide of the points shown
        self._build()
        state.source_changed.connect(lambda _s: self._show_source())
        self.refresh_models()
        self._show_source()

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        defaults = SweepSettings()
        self.source_label = QLabel()
        self.method_boxes: dict[str, QCheckBox] = {}
        methods = QGroupBox("Samplers")
        grid = QGridLayout(methods)
        for i, method in enumerate(SAMPLERS):
            box = self.method_boxes[method] = QCheckBox(SAMPLERS.label(method))
            box.setChecked(method in DEFAULT_CHECKED)
            grid.addWidget(box, i // 2, i % 2)
        budgets = QGroupBox("NFE budgets (DDPM runs only at NFE = T)")
        row = QHBoxLayout(budgets)
        self.budget_boxes: dict[int, QCheckBox] = {}
        for budget in SWEEP_NFE:
            box = self.budget_boxes[budget] = QCheckBox(str(budget))
            box.setChecked(budget in DEFAULT_BUDGETS)
            row.addWidget(box)
        self.count = QSpinBox()
        self.count.setRange(8, 4096)
        self.count.setValue(defaults.count)
        self.count.setAccessibleName("Samples per cell")
        self.mode_combo = QComboBox()
        self.mode_combo.setAccessibleName("Sweep NFE or sweep guidance")
        for mode, label in MODES:
            self.mode_combo.addItem(label, mode)
        self.mode_combo.currentIndexChanged.connect(self._on_mode)
        self.metric_combo = QComboBox()
        self._fill_metrics(SWEEP_METRICS)
        self.metric_combo.currentIndexChanged.connect(self._redraw)
        self.guidance = GuidanceControls()
        self.guidance.setVisible(False)
        self.model_combo.currentIndexChanged.connect(lambda _i: self._offer_guides())
        for signal in (self.count.valueChanged, self.guidance.method_combo.currentIndexChanged,
                       self.guidance.budget.valueChanged, self.guidance.guide_combo.currentIndexChanged):
            signal.connect(lambda *_: self._show_caption())
        self.progress.setFormat("%v / %m NFE")

        form = QGridLayout()
        form.addWidget(QLabel("Sweep"), 0, 0)
        form.addWidget(self.mode_combo, 0, 1)
        form.addWidget(QLabel("Model"), 1, 0)
        form.addWidget(self.model_combo, 1, 1)
        form.addWidget(QLabel("Data"), 2, 0)
        form.addWidget(self.source_label, 2, 1)
        self.count_label = QLabel("Samples per cell")
        form.addWidget(self.count_label, 3, 0)
        form.addWidget(self.count, 3, 1)
        form.addWidget(QLabel("Plot"), 4, 0)
        form.addWidget(self.metric_combo, 4, 1)
        self.methods_box, self.budgets_box = methods, budgets
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(methods)
        left.addWidget(budgets)
        left.addWidget(self.guidance)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self.status)
        left.addStretch(1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setMaximumWidth(440)

        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setAccessibleName("Metric by sampler and NFE")
        self.plot = pg.PlotWidget(background="w", axisItems=plain_axes())  # NFE "10, 20", not "10¹, 2·10¹"
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "NFE (network evaluations)")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.legend = self.plot.addLegend(offset=(-10, 10))
        self.plot.setMinimumHeight(260)
        self.caption = QLabel()
        self.caption.setAccessibleName("Sweep protocol")
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right = QVBoxLayout()
        right.addWidget(self.plot, 3)
        right.addWidget(self.caption)
        right.addWidget(self.table, 2)
        layout = QHBoxLayout(self)
        layout.addWidget(left_widget)
        layout.addLayout(right, 1)
        self._redraw()

    # -- inputs ---------------------------------------------------------------------------------
    def _show_source(self) -> None:
        self.source_label.setText(self._state.source_spec or "(open a data set in the Dataset tab)")
        self._show_caption()

    def mode(self) -> str:
        return str(self.mode_combo.currentData())

    def set_mode(self, mode: str) -> None:
        """"nfe" or "guidance", as a person would choose it."""
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    def _on_mode(self, _index: int = 0) -> None:
        guidance = self.mode() == "guidance"
        self.methods_box.setVisible(not guidance)
        self.budgets_box.setVisible(not guidance)
        self.guidance.setVisible(guidance)
        self.count_label.setText("Samples per w" if guidance else "Samples per cell")
        self._fill_metrics(GUIDANCE_METRICS if guidance else SWEEP_METRICS)
        self.plot.setLogMode(x=not guidance, y=False)
        self.plot.setLabel("bottom", "guidance scale w (1 = the plain model)" if guidance
                           else "NFE (network evaluations)")
        if not self.running:
            self.status.setText(GUIDANCE_IDLE if guidance else NFE_IDLE)
        self._show_caption()
        self._redraw()

    def _fill_metrics(self, metrics: tuple[str, ...]) -> None:
        current = self.metric_combo.currentData()
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        for metric in metrics:
            self.metric_combo.addItem(METRIC_LABELS[metric], metric)
        self.metric_combo.setCurrentIndex(max(0, self.metric_combo.findData(current)))
        self.metric_combo.blockSignals(False)

    def refresh_models(self) -> None:
        super().refresh_models()
        if hasattr(self, "guidance"):
            self._offer_guides()

    def _offer_guides(self) -> None:
        others = [(self.model_combo.itemText(i), str(self.model_combo.itemData(i)))
                  for i in range(self.model_combo.count())]
        self.guidance.offer_guides(self.model_combo.currentData(), others)

    def _show_caption(self) -> None:
        """The protocol: what the plot's points are made of and measured against."""
        if self.mode() == "guidance" and self.guidance_result is not None:
            self.caption.setText(self.guidance_result.caption())
            return
        source = self._state.source_spec or "the data set"
        if self.mode() == "guidance":
            g = self.guidance.settings(self.count.value())
            self.caption.setText(f"{g.count} samples per w from one x_T, {SAMPLERS.label(g.method)} at NFE {g.budget},"
                                 f" {guide_label(self.guidance.guide())}, vs {g.reference_count} real images of "
                                 f"{source} (seed {g.seed})")
        else:
            d = self.settings()
            self.caption.setText(f"{d.count} samples per cell from one x_T, vs {d.reference_count} real images of "
                                 f"{source} (seed {d.seed})")

    def settings(self) -> SweepSettings:
        methods = tuple(m for m, box in self.method_boxes.items() if box.isChecked())
        budgets = tuple(b for b, box in self.budget_boxes.items() if box.isChecked())
        return SweepSettings(methods=methods, budgets=budgets, count=self.count.value())

    def current_metric(self) -> str:
        return str(self.metric_combo.currentData())

    # -- running --------------------------------------------------------------------------------
    def start(self) -> None:
        checkpoint, source = self.model_combo.currentData(), self._state.source_spec
        if not checkpoint or not source:
            self.status.setText("Choose a model and open a data set first.")
            return
        if self.mode() == "guidance":
            self._start_guidance(checkpoint, source)
            return
        settings = self.settings()
        try:
            settings.validate()
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        device = self._state.device
        self.cells, self.result = {}, None
        self._redraw()

        def task(should_stop, report):
            return run_sweep(checkpoint, source, settings, device=device, should_stop=should_stop,
                             on_progress=report, on_cell=lambda cell: report(cell, True))

        self._begin(task, "Loading the model and the data set…")

    def _start_guidance(self, checkpoint: str, source: str) -> None:
        settings, guide = self.guidance.settings(self.count.value()), self.guidance.guide()
        try:
            settings.validate()
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        device = self._state.device
        self.points, self.guidance_result, self._guide = {}, None, guide
        self._show_caption()
        self._redraw()

        def task(should_stop, report):
            return run_guidance_sweep(checkpoint, source, settings, guide=guide, device=device,
                                      should_stop=should_stop, on_progress=report,
                                      on_point=lambda point: report(point, True))

        self._begin(task, "Loading the model and the data set…")

    def _on_progress(self, snapshot) -> None:
        if isinstance(snapshot, GuidancePoint):
            self.points[snapshot.scale] = snapshot
            self._redraw()
        elif isinstance(snapshot, GuidanceProgress):
            self.progress.setRange(0, max(1, snapshot.total_nfe))
            self.progress.setValue(int(snapshot.done_nfe))
            self.status.setText(f"Sampling at w = {snapshot.scale:g} (point {snapshot.point + 1} of "
                                f"{snapshot.points} to compute)")
        elif isinstance(snapshot, SweepCell):
            self.cells[(snapshot.method, snapshot.budget)] = snapshot
            self._redraw()
        elif isinstance(snapshot, SweepProgress):
            self.progress.setRange(0, max(1, snapshot.total_nfe))
            self.progress.setValue(int(snapshot.done_nfe))
            self.status.setText(f"Sampling {SAMPLERS.label(snapshot.method)} at NFE {snapshot.budget} "
                                f"(cell {snapshot.cell + 1} of {snapshot.cells} to compute)")

    def _on_result(self, result: SweepResult | GuidanceSweepResult) -> None:
        if isinstance(result, GuidanceSweepResult):
            self.guidance_result = result
            self.points = {p.scale: p for p in result.points}
            cached = sum(p.cached for p in result.points)
            state = "Cancelled" if result.cancelled else "Done"
            self.status.setText(f"{state}: {len(result.points)} scales ({cached} from the cache)"
                                + "".join(f"; {n}" for n in result.notes) + ".")
            self._show_caption()
            self._redraw()
            return
        self.result = result
        self.cells = {(c.method, c.budget): c for c in result.cells}
        cached = sum(c.cached for c in result.cells)
        state = "Cancelled" if result.cancelled else "Done"
        self.status.setText(f"{state}: {len(result.cells)} cells ({cached} from the cache)"
                            + (f"; skipped {len(result.skipped)} impossible" if result.skipped else "") + ".")
        self._redraw()

    def _end_progress(self) -> None:
        finished = self.guidance_result if self.mode() == "guidance" else self.result
        if self.progress.maximum() == 0 or (finished is not None and not finished.cancelled):
            self.progress.setRange(0, max(1, self.progress.maximum()))
            self.progress.setValue(self.progress.maximum() if finished is not None else 0)

    # -- display --------------------------------------------------------------------------------
    def _redraw(self) -> None:
        if self.mode() == "guidance":
            self._redraw_guidance()
            return
        metric = self.current_metric()
        methods = sorted({m for m, _ in self.cells}, key=_table_order)
        budgets = sorted({b for _, b in self.cells})
        self.table.clear()
        self.table.clearSpans()
        floor = self.result.floor.get(metric) if self.result and self.result.floor else None
        rows = [SAMPLERS.label(m) for m in methods] + (["real vs real"] if floor is not None and budgets else [])
        self.table.setRowCount(len(rows))
        self.table.setColumnCount(len(budgets))
        self.table.setHorizontalHeaderLabels([f"NFE {b}" for b in budgets])
        self.table.setVerticalHeaderLabels(rows)
        for r, method in enumerate(methods):
            for c, budget in enumerate(budgets):
                cell = self.cells.get((method, budget))
                if cell is not None:
                    spent = f" ({cell.nfe})" if cell.nfe != budget else ""
                    value = format_with_error(cell.metrics[metric], cell.errors.get(metric))  # decimals follow ±
                    item = QTableWidgetItem(f"{value}{spent}")
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    item.setToolTip(f"{cell.steps} steps, {cell.nfe} NFE; "
                                    + ", ".join(f"{k} {v:.3g}" for k, v in cell.metrics.items()))
                    self.table.setItem(r, c, item)
        if floor is not None and budgets:
            item = QTableWidgetItem(f"{floor:.3g}")
            item.setToolTip("real images measured against other real images: the best a model can reach here")
            self.table.setItem(len(methods), 0, item)
            self.table.setSpan(len(methods), 0, 1, len(budgets))
        self.table.resizeColumnsToContents()
        self.plot.clear()
        self.legend.clear()
        self.plot.setLabel("left", METRIC_LABELS[metric])
        for method in methods:
            points = sorted((c.nfe, c.metrics[metric], c.errors.get(metric, 0.0))
                            for (m, _), c in self.cells.items() if m == method)
            colour = SAMPLER_COLOURS.get(method, (90, 90, 90))
            xs, ys = np.array([p[0] for p in points], float), np.array([p[1] for p in points], float)
            self.plot.plot(xs, ys, pen=pg.mkPen(colour, width=2), symbol="o", symbolBrush=colour, symbolSize=7,
                           symbolPen=None, name=SAMPLERS.label(method))
            add_error_bars(self.plot, xs, ys, np.array([p[2] for p in points], float), colour, log_x=True)
        if floor is not None and math.isfinite(floor):
            line = pg.InfiniteLine(pos=floor, angle=0, pen=pg.mkPen((90, 90, 90), width=1.5,
                                                                    style=Qt.PenStyle.DashLine))
            self.plot.addItem(line)
            self.legend.addItem(pg.PlotDataItem(pen=pg.mkPen((90, 90, 90), style=Qt.PenStyle.DashLine)),
                                "real vs real (floor)")
        show_values(self.plot, bool(self.cells))  # an empty plot shows no made-up range (issue 13 item 13)
        frame(self.plot, [], unit_interval=metric in ("precision", "recall"))  # plain 0–1 for the scores

    def _redraw_guidance(self) -> None:
        metric = self.current_metric()
        floor = self.guidance_result.floor if self.guidance_result is not None else None
        fill_guidance_table(self.table, self.points, floor)
        self.plot.clear()
        self.legend.clear()
        self.plot.setLabel("left", METRIC_LABELS[metric])
        draw_guidance(self.plot, self.legend, self.points, floor, metric, guide_label(self._guide))
        shown = any(metric in p.metrics for p in self.points.values())
        show_values(self.plot, shown)
        frame(self.plot, [], unit_interval=metric in ("precision", "recall", "faithfulness"))

    def guidance_curve(self) -> list[tuple[float, float]]:
        """(w, value) of the plotted guidance curve (for tests)."""
        items = [i for i in self.plot.getPlotItem().listDataItems() if i.xData is not None and len(i.xData)]
        return [(float(x), float(y)) for item in items[:1] for x, y in zip(item.xData, item.yData)]

    def table_text(self, method: str, budget: int) -> str | None:
        """What the table shows for one cell (for tests)."""
        methods = sorted({m for m, _ in self.cells}, key=_table_order)
        budgets = sorted({b for _, b in self.cells})
        if method not in methods or budget not in budgets:
            return None
        item = self.table.item(methods.index(method), budgets.index(budget))
        return item.text() if item is not None else None
