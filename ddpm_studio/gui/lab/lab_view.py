"""The "2-D lab" tab: pick a point set, train the point denoiser live, scrub the forward process with the field
on top, and run two samplers side by side from the same x_T (``app.lab``; the work in ``lab_tasks``).

Layout: controls and the live loss on the left; the forward process at the slider's t with the learned field
(segments x_t → x̂_0) in the middle; two lanes on the right, each a sampler (or, for the schedules preset, a
schedule's forward process) with its trajectories, samples and SWD against the data's floor.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.lab import DEFAULT_TRAIN_STEPS, LabConfig, SamplerChoice
from ddpm_studio.app.lab_presets import PRESETS, LabPreset, get_preset
from ddpm_studio.data.points import MIN_DRAWN, POINT_SETS, PointDataError, brush, drawn_points
from ddpm_studio.engine import SAMPLERS, SCHEDULE_NAMES
from ddpm_studio.engine.config import OBJECTIVES
from ddpm_studio.gui.jobs.task_worker import TaskRunner
from ddpm_studio.gui.lab.lab_plot import PointPlot
from ddpm_studio.gui.lab.lab_tasks import LabOpened, LabRequest, LabSnapshot, Lane, look_task, open_task, train_task
from ddpm_studio.gui.state import AppState

DRAW = "draw"  # the data choice whose points are drawn with the mouse on the middle plot
DATA_CHOICES = (*POINT_SETS, "gmm?modes=3", "letter:A", DRAW)
DAB = 6  # points one click (or one drag event) adds, spread over the brush's disc
NO_PRESET = "(no preset)"


class LabLane(QWidget):
    """One side of the comparison: a sampler, its NFE and η, and its plot."""

    changed = Signal()

    def __init__(self, choice: SamplerChoice, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.method = QComboBox()
        for name in SAMPLERS:
            self.method.addItem(SAMPLERS[name].short_label, name)
        self.nfe = QSpinBox()
        self.nfe.setRange(1, 1000)
        self.nfe.setToolTip("network evaluations (DDPM always spends T)")
        self.eta = QDoubleSpinBox()
        self.eta.setRange(0.0, 1.0)
        self.eta.setSingleStep(0.1)
        self.eta.setToolTip("DDIM's η: 0 deterministic, 1 as stochastic as DDPM")
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(0.0, 20.0)
        self.guidance.setSingleStep(0.5)
        self.guidance.setToolTip("guidance scale w: 1 none; classifier-free guidance needs a class-conditional lab")
        self.autoguide = QCheckBox("auto")
        self.autoguide.setToolTip("autoguidance: guide by the lab's earlier snapshot instead of the unconditional "
                                  "branch (Karras et al. 2024)")
        self.plot = PointPlot()
        self.summary = QLabel("")  # the sampler, its NFE and its distance to the data against the floor
        self.summary.setWordWrap(True)
        self.schedule: str | None = None  # set: this lane shows that schedule's forward process instead
        _narrow(self.method)
        row = QHBoxLayout()  # two short rows, so two lanes fit a 1024 px window (tests/gui/test_main_window.py)
        row.addWidget(QLabel("NFE"))
        row.addWidget(self.nfe)
        row.addWidget(QLabel("η"))
        row.addWidget(self.eta)
        row.addStretch(1)
        steer = QHBoxLayout()
        steer.addWidget(QLabel("w"))
        steer.addWidget(self.guidance)
        steer.addWidget(self.autoguide)
        steer.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.method)
        layout.addLayout(row)
        layout.addLayout(steer)
        layout.addWidget(self.summary)
        layout.addWidget(self.plot, 1)
        self.set_choice(choice)
        self.method.currentIndexChanged.connect(self._follow_method)
        for box in (self.nfe, self.eta, self.guidance):
            box.valueChanged.connect(self.changed)
        self.autoguide.toggled.connect(self.changed)

    def set_choice(self, choice: SamplerChoice) -> None:
        boxes = (self.method, self.nfe, self.eta, self.guidance, self.autoguide)
        for box in boxes:
            box.blockSignals(True)
        self.method.setCurrentIndex(self.method.findData(choice.method))
        self.nfe.setValue(choice.nfe)
        self.eta.setValue(choice.eta)
        self.guidance.setValue(choice.guidance)
        self.autoguide.setChecked(choice.autoguide)
        for box in boxes:
            box.blockSignals(False)
        self._follow_method()

    def choice(self) -> SamplerChoice | None:
        if self.schedule is not None:
            return None
        return SamplerChoice(self.method.currentData(), self.nfe.value(), self.eta.value(),
                             guidance=self.guidance.value(), autoguide=self.autoguide.isChecked())

    def set_schedule(self, schedule: str | None) -> None:
        self.schedule = schedule
        for box in (self.method, self.nfe, self.eta, self.guidance, self.autoguide):
            box.setEnabled(schedule is None)
        self._follow_method()

    def _follow_method(self) -> None:
        row = SAMPLERS.lookup(self.method.currentData())
        self.nfe.setEnabled(self.schedule is None and not row.fixed_length)  # DDPM: always T
        self.eta.setEnabled(self.schedule is None and "eta" in row.options)
        self.changed.emit()


class LabView(QWidget):
    """The 2-D lab tab (takes the app state like every view; the lab needs nothing from it yet)."""

    snapshot_shown = Signal()  # after each snapshot reached the plots (tests, the frame-rate bench)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._runner = TaskRunner("lab", self)
        self._runner.progress.connect(self._on_progress)
        self._runner.result.connect(self._on_result)
        self._runner.failed.connect(self._on_failed)
        self._runner.finished.connect(self._on_finished)
        self._base = LabConfig()
        self._opened: LabOpened | None = None
        self._job: str | None = None  # "open" | "train" | "look" while a task runs
        self._train_after_open = False
        self._look_lanes = False  # the look in flight recomputes the lanes
        self._lanes: tuple[Lane, Lane] | None = None
        self._step = 0
        self._field = None  # the latest Field snapshot
        self._loss_steps: list[float] = []
        self._loss_values: list[float] = []
        self.error: str | None = None
        self.distances: tuple[float, float] = (math.nan, math.nan)
        self._drawn = np.zeros((0, 2), dtype=np.float32)  # points drawn with the mouse, in plot coordinates
        self._brush_rng = np.random.default_rng(0)
        self._build()
        self._request = self.request()

    # ---- widgets ---------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.preset = QComboBox()
        self.preset.addItem(NO_PRESET, "")
        for preset in PRESETS:
            self.preset.addItem(preset.title, preset.name)
        self.caption = QLabel("Choose points and press Train; or pick a preset.")
        self.caption.setWordWrap(True)
        self.data = QComboBox()
        self.data.setEditable(True)
        self.data.addItems(DATA_CHOICES)
        self.data.setToolTip("a point set, letter:X, image:PATH (its dark pixels), csv:PATH (x,y per line) or "
                             "draw (click and drag on the middle plot)")
        self.brush_radius = QDoubleSpinBox()
        self.brush_radius.setRange(0.0, 0.5)
        self.brush_radius.setSingleStep(0.02)
        self.brush_radius.setValue(0.08)
        self.brush_radius.setToolTip("the brush: each click or drag step adds points spread over a disc this wide")
        self.clear_button = QPushButton("Clear")
        self.use_button = QPushButton("Use these points")
        self.draw_box = QWidget()
        draw_row = QHBoxLayout(self.draw_box)
        draw_row.setContentsMargins(0, 0, 0, 0)
        draw_row.addWidget(QLabel("brush"))
        draw_row.addWidget(self.brush_radius)
        draw_row.addWidget(self.clear_button)
        draw_row.addWidget(self.use_button)
        self.draw_box.setVisible(False)
        self.points = _spin(10, 20000, self._base.points)
        self.schedule = _combo(SCHEDULE_NAMES, self._base.diffusion.schedule)
        self.objective = _combo(OBJECTIVES, self._base.diffusion.objective)
        self.steps = _spin(1, 100000, DEFAULT_TRAIN_STEPS)
        self.conditional = QCheckBox("class-conditional")
        self.conditional.setToolTip("train on the points' labels (mixture component, moon, ring, arm) with label "
                                    "dropout, so the lanes can use classifier-free guidance (w)")
        self.train_button = QPushButton("Train")
        self.pause_button = QPushButton("Pause")
        self.reset_button = QPushButton("Reset")
        self.status = QLabel("not trained: press Train (the points are drawn first), or pick a preset")
        self.status.setWordWrap(True)
        self.loss_plot = pg.PlotWidget(background="w")
        self.loss_plot.setMinimumHeight(140)
        self.loss_plot.getPlotItem().setTitle("training loss", color="#333", size="9pt")
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen((20, 80, 200), width=1))

        preset_row = QFormLayout()
        preset_row.addRow("Preset", self.preset)
        form = QFormLayout()
        form.addRow("Points", self.data)
        form.addRow("How many", self.points)
        form.addRow("Schedule", self.schedule)
        form.addRow("Objective", self.objective)
        form.addRow("Train steps", self.steps)
        form.addRow("Labels", self.conditional)
        buttons = QHBoxLayout()
        for button in (self.train_button, self.pause_button, self.reset_button):
            buttons.addWidget(button)
        left = QVBoxLayout()
        left.addLayout(preset_row)
        left.addWidget(self.caption)
        left.addLayout(form)
        left.addWidget(self.draw_box)
        left.addLayout(buttons)
        left.addWidget(self.status)
        left.addWidget(self.loss_plot, 1)

        self.forward_plot = PointPlot("x_t at the slider's t and the learned field")
        self.t_slider = QSlider(Qt.Orientation.Horizontal)
        self.t_slider.setRange(0, self._base.diffusion.timesteps - 1)
        self.t_slider.setAccessibleName("timestep t")
        self.t_label = QLabel("t = 0")
        self.show_field = QCheckBox("field")
        self.show_field.setChecked(True)
        self.field_mode = QComboBox()
        self.field_mode.addItem("x_t → x̂0", "x0")
        self.field_mode.addItem("score", "score")
        self.field_mode.setToolTip("the field: where each x_t would be mapped (x̂0), or the score −ε̂/σ_t")
        self.show_contours = QCheckBox("density")
        self.show_contours.setChecked(True)
        self.show_contours.setToolTip("the data density's contour lines (a kernel density estimate): the regions "
                                      "holding 25, 50, 75 and 95 % of the points")
        slider_row = QHBoxLayout()
        slider_row.addWidget(self.t_label)
        slider_row.addWidget(self.t_slider, 1)
        shown_row = QHBoxLayout()  # below the slider: the window stays within 1024 px
        shown_row.addWidget(self.show_field)
        shown_row.addWidget(self.field_mode)
        shown_row.addWidget(self.show_contours)
        shown_row.addStretch(1)
        middle = QVBoxLayout()
        middle.addWidget(self.forward_plot, 1)
        middle.addLayout(slider_row)
        middle.addLayout(shown_row)

        self.left_lane = LabLane(SamplerChoice("ddim", 20))
        self.right_lane = LabLane(SamplerChoice("ddpm", 200))
        self.run_button = QPushButton("Run samplers")
        self.twin = QComboBox()
        self.twin.addItem("the same model", None)
        for name, values in (("schedule", SCHEDULE_NAMES), ("objective", OBJECTIVES)):
            for value in values:
                self.twin.addItem(f"a model with the {value} {name}", f"{name}={value}")
        self.twin.setToolTip("the right lane samples a second model, trained alongside on the same points with "
                             "another schedule or objective (training both takes twice as long)")
        _narrow(self.twin)
        bottom = QHBoxLayout()
        bottom.addWidget(self.run_button)
        bottom.addWidget(QLabel("right lane:"))
        bottom.addWidget(self.twin, 1)
        lanes = QGridLayout()
        lanes.addWidget(self.left_lane, 0, 0)
        lanes.addWidget(self.right_lane, 0, 1)
        lanes.addLayout(bottom, 1, 0, 1, 2)

        layout = QHBoxLayout(self)
        left_box = QWidget()
        left_box.setLayout(left)
        left_box.setMaximumWidth(280)
        for box in (self.preset, self.data):
            _narrow(box)
        layout.addWidget(left_box)
        layout.addLayout(middle, 2)
        layout.addLayout(lanes, 4)

        self.preset.currentIndexChanged.connect(lambda _: self.apply_preset(self.preset.currentData()))
        self.data.activated.connect(lambda _: self._data_chosen())
        self.clear_button.clicked.connect(self.clear_drawn)
        self.use_button.clicked.connect(self.reopen)
        self.forward_plot.viewport().installEventFilter(self)
        self.data.lineEdit().editingFinished.connect(self._data_edited)
        for box in (self.schedule, self.objective):
            box.activated.connect(lambda _: self.reopen())
        self.conditional.clicked.connect(lambda _: self.reopen())
        self.points.editingFinished.connect(self.reopen)
        self.train_button.clicked.connect(self.train)
        self.pause_button.clicked.connect(self.pause)
        self.reset_button.clicked.connect(self.reset)
        self.run_button.clicked.connect(lambda: self.look(lanes=True))
        self.t_slider.valueChanged.connect(self._on_t)
        self.show_field.toggled.connect(lambda _: self.look(lanes=False))
        self.field_mode.currentIndexChanged.connect(lambda _: self._redraw_field())
        self.show_contours.toggled.connect(self._toggle_contours)
        for lane in (self.left_lane, self.right_lane):
            lane.changed.connect(self._lanes_changed)
        self.twin.currentIndexChanged.connect(lambda _: self._lanes_changed())
        self._follow_job()

    # ---- what the person asks for ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._job is not None

    def config(self) -> LabConfig:
        """The lab the widgets describe (the preset's, or the defaults, with the form's choices)."""
        diffusion = replace(self._base.diffusion, schedule=self.schedule.currentText(),
                            objective=self.objective.currentText())
        if self.drawing:
            return replace(self._base, data="drawn", points=max(2, len(self._drawn)), diffusion=diffusion,
                           conditional=self.conditional.isChecked())
        return replace(self._base, data=self.data.currentText().strip(), points=self.points.value(),
                       diffusion=diffusion, conditional=self.conditional.isChecked())

    def request(self) -> LabRequest:
        """What the plots should show, read from the widgets (GUI thread only)."""
        return LabRequest(t=self.t_slider.value(), lanes=(self.left_lane.choice(), self.right_lane.choice()),
                          schedules=(self.left_lane.schedule, self.right_lane.schedule),
                          twin=self.twin.currentData())

    def _update_request(self) -> LabRequest:
        """Replace the request a running task reads (one attribute assignment: safe to read from its thread)."""
        self._request = self.request()
        return self._request

    def _current_request(self) -> LabRequest:  # called on the task's thread: reads the attribute only
        return self._request

    def reopen(self) -> None:
        """A new lab for the form's choices (training so far is dropped); in draw mode, on the drawn points."""
        self._runner.shutdown()
        self._opened, self._lanes, self.error = None, None, None
        self._loss_steps, self._loss_values, self._step = [], [], 0
        self.loss_curve.setData([], [])
        self.draw_box.setVisible(self.drawing)
        data = None
        if self.drawing:
            try:
                data = drawn_points(self._drawn)
            except PointDataError as exc:
                self._train_after_open = False
                self._on_failed(str(exc))
                self._follow_job()
                return
        self.status.setText("preparing the points…")
        self._job = "open"
        self._update_request()
        self._runner.start(open_task(self.config(), self._current_request, data), threads=1)
        self._follow_job()

    # ---- points drawn with the mouse -------------------------------------------------------------------

    @property
    def drawing(self) -> bool:
        """The data choice is "draw": the middle plot takes clicks and drags as points."""
        return self.data.currentText().strip() == DRAW

    @property
    def drawn(self) -> np.ndarray:
        """The points drawn so far (N, 2), in the plot's coordinates (normalised when used)."""
        return self._drawn.copy()

    def _data_chosen(self) -> None:
        self.draw_box.setVisible(self.drawing)
        if self.drawing:
            self._show_canvas()
        else:
            self.reopen()

    def _show_canvas(self) -> None:
        """Drop the lab and show the drawn points alone on the middle plot, ready for more."""
        self._runner.shutdown()  # (no `finished` follows a shutdown)
        self._opened, self._lanes, self._field, self.error, self._job = None, None, None, None, None
        self._train_after_open = False
        self._step = 0
        for plot in (self.forward_plot, self.left_lane.plot, self.right_lane.plot):
            for setter in (plot.set_data, plot.set_density, plot.set_contours, plot.set_cloud, plot.set_field,
                           plot.set_paths, plot.set_samples):
                setter(None)
        self.forward_plot.set_data(self._drawn)
        self._say_drawn()
        self._follow_job()

    def _say_drawn(self) -> None:
        n = len(self._drawn)
        more = f"draw at least {MIN_DRAWN - n} more" if n < MIN_DRAWN else "press 'Use these points' to train on them"
        self.status.setText(f"drawing: {n} point{'s' if n != 1 else ''}; click or drag on the middle plot ({more})")

    def add_drawn(self, x: float, y: float) -> None:
        """One dab of the brush at plot coordinates (x, y): DAB points within the brush radius (a lab trained on
        earlier points is dropped: the canvas shows the drawing again)."""
        if self._opened is not None or self._job is not None:
            self._show_canvas()
        dab = brush((x, y), self.brush_radius.value(), DAB, self._brush_rng)
        self._drawn = np.concatenate([self._drawn, dab])
        self.forward_plot.set_data(self._drawn)
        self._say_drawn()

    def clear_drawn(self) -> None:
        self._drawn = np.zeros((0, 2), dtype=np.float32)
        self._show_canvas()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Clicks and left-button drags on the middle plot draw points (in draw mode)."""
        if self.drawing and watched is self.forward_plot.viewport():
            kind = event.type()
            press = kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton
            drag = kind == QEvent.Type.MouseMove and bool(event.buttons() & Qt.MouseButton.LeftButton)
            if press or drag:
                scene = self.forward_plot.mapToScene(event.position().toPoint())
                point = self.forward_plot.getPlotItem().vb.mapSceneToView(scene)
                self.add_drawn(point.x(), point.y())
                return True
        return super().eventFilter(watched, event)

    def apply_preset(self, name: str) -> None:
        if not name:
            self.caption.setText("Choose points and press Train; or pick a preset.")
            return
        preset: LabPreset = get_preset(name)
        self._base = preset.config
        self._runner.shutdown()  # the old lab is dropped: no look at it with the preset's lanes (reopen follows)
        self._opened, self._job = None, None
        for box, value in ((self.data, preset.config.data), (self.schedule, preset.config.diffusion.schedule),
                           (self.objective, preset.config.diffusion.objective)):
            box.setCurrentText(value)
        self.points.setValue(preset.config.points)
        self.conditional.setChecked(preset.config.conditional)
        self.steps.setValue(max(1, preset.train_steps))
        self.left_lane.set_choice(preset.left)
        self.right_lane.set_choice(preset.right)
        self.twin.blockSignals(True)
        self.twin.setCurrentIndex(max(0, self.twin.findData(preset.right_twin)))
        self.twin.blockSignals(False)
        self.left_lane.set_schedule(preset.config.diffusion.schedule if preset.right_schedule else None)
        self.right_lane.set_schedule(preset.right_schedule)
        self.t_slider.setRange(0, preset.config.diffusion.timesteps - 1)
        self.t_slider.setValue(preset.t(preset.config.diffusion.timesteps))
        self.show_field.setChecked(preset.view != "forward")  # an untrained model's field says nothing
        hint = " Press Train." if preset.train_steps else ""
        self.caption.setText(preset.caption + hint)
        self.reopen()

    def train(self) -> None:
        if self._job == "open":
            self._train_after_open = True
            return
        if self._opened is None:
            self._train_after_open = True
            self.reopen()
            return
        self._runner.shutdown()  # a look in flight
        self._job = "train"
        self._update_request()
        self._runner.start(train_task(self._opened.lab, self.steps.value(), self._current_request), threads=1)
        self._follow_job()

    def pause(self) -> None:
        if self._job == "train":
            self._runner.cancel()  # the task stops between steps and answers a last look

    def reset(self) -> None:
        """Fresh weights on the same points."""
        if self._opened is None:
            return
        self._runner.shutdown()
        lab, request = self._opened.lab, self._update_request()
        self._loss_steps, self._loss_values, self._step = [], [], 0
        self.loss_curve.setData([], [])

        def run(should_stop, report):
            lab.reset()
            return look_task(lab, request, lanes=True)(should_stop, report)
        self._job = "look"
        self._runner.start(run, threads=1)
        self._follow_job()

    def look(self, *, lanes: bool) -> None:
        """Recompute the field (and the lanes) now, unless training shows them anyway. A look replaces the one in
        flight, so it also does the lanes when that one was going to."""
        if self._opened is None or self._job in ("open", "train"):
            return
        lanes = lanes or (self._job == "look" and self._look_lanes)
        self._job, self._look_lanes = "look", lanes
        self._runner.start(look_task(self._opened.lab, self._update_request(), lanes=lanes), threads=1)
        self._follow_job()

    def _data_edited(self) -> None:
        text = self.data.currentText().strip()
        changed = self._opened is None or text != self._opened.lab.config.data
        if self.drawing != self.draw_box.isVisible() or (not self.drawing and changed):
            self._data_chosen()

    def _lanes_changed(self) -> None:
        self._update_request()
        self.look(lanes=True)

    def _on_t(self, t: int) -> None:
        self._update_request()
        self.t_label.setText(f"t = {t}")
        self._show_clouds()
        self.look(lanes=False)

    # ---- what comes back -------------------------------------------------------------------------------

    def _on_progress(self, snapshot: LabSnapshot) -> None:
        self._show(snapshot)

    def _on_result(self, value: LabOpened | LabSnapshot) -> None:
        if isinstance(value, LabOpened):
            self._opened = value
            self.t_slider.setRange(0, value.num_timesteps - 1)
            for plot in self.plots:
                plot.set_data(value.points)
                plot.set_density(value.density)
                plot.set_contours(value.contours)
            self._show(value.snapshot)
            return
        self._show(value)

    def _on_failed(self, message: str) -> None:
        self.error = message
        self.status.setText(f"⚠ {message}")

    def _on_finished(self) -> None:
        job, self._job = self._job, None
        self._follow_job()
        if job == "open" and self._opened is not None and self._train_after_open:
            self._train_after_open = False
            self.train()

    def _show(self, snapshot: LabSnapshot) -> None:
        for point in snapshot.losses:
            self._loss_steps.append(point.step)
            self._loss_values.append(point.loss)
        if snapshot.losses:
            self.loss_curve.setData(self._loss_steps, self._loss_values)
        self._step = snapshot.step
        last = f", loss {self._loss_values[-1]:.4f}" if self._loss_values else ""
        self.status.setText(f"step {snapshot.step}{last}" if snapshot.step else "not trained")
        if snapshot.field is not None:
            self._field = snapshot.field
            self._redraw_field()
        if snapshot.lanes is not None:
            self._lanes = snapshot.lanes
            self._show_lanes()
        self._show_clouds()
        self.snapshot_shown.emit()

    @property
    def plots(self) -> tuple[PointPlot, PointPlot, PointPlot]:
        return self.forward_plot, self.left_lane.plot, self.right_lane.plot

    def _toggle_contours(self, shown: bool) -> None:
        for plot in self.plots:
            plot.show_contours(shown)

    def _redraw_field(self) -> None:
        shown = self._field if self.show_field.isChecked() else None
        self.forward_plot.set_field(shown, self.field_mode.currentData())

    def _show_lanes(self) -> None:
        assert self._lanes is not None and self._opened is not None
        floor = self._opened.floor
        distances = []
        for lane, result in zip((self.left_lane, self.right_lane), self._lanes):
            distances.append(result.distance)
            if result.trajectory is None:
                lane.plot.set_paths(None)
                lane.plot.set_samples(None)
                continue
            trajectory = result.trajectory
            method = trajectory.choice.method
            lane.plot.set_cloud(None)
            lane.plot.set_paths(trajectory.paths, method, 40 if len(trajectory.timesteps) <= 60 else 12)
            lane.plot.set_samples(trajectory.samples, method)
            model = ""
            if result.twin is not None:
                name, _, value = result.twin.partition("=")
                model = f" · {value} {name} model"
            lane.plot.set_title(f"{trajectory.choice.label}, {trajectory.nfe} NFE{model}")
            twin = (f" The {model[3:]}: step {result.step}, trained alongside (twice the time)."
                    if result.twin is not None else "")
            spread = (f"; per-class spread {result.spread:.3f} (data {self._opened.data_spread:.3f})"
                      if result.spread is not None and self._opened.data_spread is not None else "")
            lane.summary.setText(f"{trajectory.choice.label}, {trajectory.nfe} NFE: SWD to the data "
                                 f"{result.distance:.3f} (data vs data floor {floor:.3f}){spread}{twin}")
        self.distances = (distances[0], distances[1])

    def _show_clouds(self) -> None:
        if self._opened is None:
            return
        t = min(self.t_slider.value(), self._opened.num_timesteps - 1)
        self.forward_plot.set_cloud(self._opened.clouds[t])
        for lane, result in zip((self.left_lane, self.right_lane), self._lanes or ()):
            if result.clouds is not None:
                lane.plot.set_cloud(result.clouds[t])
                lane.plot.set_title(f"{lane.schedule} schedule: x_t at t = {t}")
                lane.summary.setText(f"the forward process under the {lane.schedule} schedule")

    def _follow_job(self) -> None:
        training = self._job == "train"
        self.train_button.setEnabled(not training)
        self.train_button.setText("Resume" if self._step else "Train")
        self.pause_button.setEnabled(training)
        self.reset_button.setEnabled(self._opened is not None and not training)
        self.run_button.setEnabled(self._opened is not None and not training)

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        return self._runner.shutdown(timeout_s)

    @property
    def shown_cloud(self) -> np.ndarray:
        """The points the forward plot shows now (tests)."""
        x, y = self.forward_plot.cloud_item.getData()
        return np.stack([x, y], 1)


def _narrow(box: QComboBox) -> None:
    """A combo box whose minimum width does not grow with its longest item (the tab fits 1024 px)."""
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(10)


def _spin(low: int, high: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    return box


def _combo(items: tuple[str, ...], current: str) -> QComboBox:
    box = QComboBox()
    box.addItems(items)
    box.setCurrentText(current)
    return box
