"""The sampler view: run the reverse process and animate x_t and the predicted x_0 frame by frame.

Pick a model (the run being trained, any run on disk, the shipped demo model: `app.catalogue`), a sampler,
steps, η, noise scale (temperature), "average N draws" (see `app.sampling`), seed and image count. Sampling
runs an `app.sampling.SamplingSession` in a `SamplerRunner` thread that streams uint8 frames; the view stores
them and paints the frame the `FramePlayer` points at (throttled to ~30 Hz while streaming). Compare mode runs
two lanes from the same x_T: two samplers, two checkpoints, or two η values. Exports: final grid PNG, GIF,
strip of steps, at a chosen nearest-neighbour scale and with captions; each runs on an `ExportRunner` thread
from a snapshot of the recording, with a progress bar and Cancel, so the window never freezes.

The model list defaults to the catalogue's best model (`app.catalogue.default_choice`: the demo until a run
has trained longer). Sampling shows a progress bar with an ETA (frames are spread evenly over the steps, so
frames done / frames planned is the progress); the Sample/Cancel bar sits outside the scrolling column.

Steering (issue 20): for a class-conditional model the steering box offers its classes ("all classes": one row
per class from the same noise, each row named), the guidance scale w, and guide models for autoguidance
(`app.guides`: the run's earlier checkpoints, other runs on the same data); a guide that does not fit is said in
one line in the status area, before and instead of sampling. Captions and proposed file names carry class and w.

The parts: `SamplerControls` (the settings column), `SamplerLanes` (the panes of each lane) and
`app.recording.SamplerRecording` (the frames per lane and the exported pictures); this view wires them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from ddpm_studio.app import exports as export
from ddpm_studio.app.catalogue import default_choice, model_choices, model_info, model_shape
from ddpm_studio.app.export_names import export_name, steering_caption, steering_name
from ddpm_studio.app.guides import guide_choices, guide_problem, model_classes
from ddpm_studio.app.posthoc import posthoc_range
from ddpm_studio.app.recording import SamplerRecording, describe_lane
from ddpm_studio.app.sampling import LaneSpec, SampleFrame, SamplingPlan
from ddpm_studio.app.sampling_cost import MEASURE_FROM_SIDE, EvalCost, measure_model
from ddpm_studio.engine import SamplingConfig
from ddpm_studio.gui.jobs.pool_jobs import PoolJobs
from ddpm_studio.gui.sampler.animation import FramePlayer
from ddpm_studio.gui.sampler.export_worker import ExportJob, ExportRunner
from ddpm_studio.gui.sampler.sample_quality_view import SampleQualityPanel
from ddpm_studio.gui.sampler.sampler_controls import SamplerControls
from ddpm_studio.gui.sampler.sampler_lanes import SamplerLanes
from ddpm_studio.gui.sampler.sampler_worker import SamplerRequest, SamplerRunner
from ddpm_studio.gui.training.stats import format_duration
from ddpm_studio.gui.widgets.save_dialog import ask_save_path

if TYPE_CHECKING:
    from ddpm_studio.gui.state import AppState

log = logging.getLogger(__name__)

RENDER_INTERVAL_S = 1 / 30


class SamplerView(QWidget):
    """Pick a model and a sampler, then watch noise become images."""

    def __init__(self, state: "AppState", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._runner = SamplerRunner(self)
        self.exporter = ExportRunner(self)
        self._cost_jobs = PoolJobs(self)  # the chosen big model's measured evaluation: the newest choice wins
        self._cost_jobs.answered.connect(self._on_cost)
        self._posthoc_jobs = PoolJobs(self)  # the chosen run's reconstructable EMA lengths (post-hoc EMA)
        self._posthoc_jobs.answered.connect(lambda span: self.controls.ema_length.set_range(span))
        self.recording = SamplerRecording()
        self._last_render = 0.0
        self._lanes_asked: tuple[LaneSpec, ...] = ()
        self._conditional = False  # whether the asked lanes' model is class-conditional
        self._sampling_started = 0.0
        self._frames_received = 0
        self.finished_reason: str | None = None
        self.error: str | None = None
        self._exporting = False
        self.exported: Path | None = None  # the last file an export wrote
        self.export_error: str | None = None
        self.guide_error: str | None = None  # why the chosen guide model cannot guide the chosen model
        self._build()
        self._connect()
        self.refresh_models()

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.controls = SamplerControls()
        self.controls_scroll = scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        bar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(self.controls.sizeHint().width() + bar + 2 * scroll.frameWidth() + 2)
        column = QVBoxLayout()
        column.addWidget(scroll, 1)
        column.addWidget(self.controls.run_bar)  # Sample/Cancel/progress: never scrolled away nor clipped
        column_widget = QWidget()
        column_widget.setLayout(column)
        column_widget.setMaximumWidth(max(420, scroll.minimumWidth()))
        column.setContentsMargins(0, 0, 0, 0)
        self.lanes = SamplerLanes()
        self.player = FramePlayer()
        right = QVBoxLayout()
        right.addWidget(self.lanes, 1)
        right.addWidget(self.player)
        self.quality = SampleQualityPanel()  # Evaluate + nearest training images (issue 11)
        right.addWidget(self.quality)
        layout = QHBoxLayout(self)
        layout.addWidget(column_widget)
        layout.addLayout(right, 1)
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(self._render)

    def _connect(self) -> None:
        c = self.controls
        c.refresh_button.clicked.connect(self.refresh_models)
        c.browse_button.clicked.connect(self._browse_checkpoint)
        c.sample_button.clicked.connect(self.start)
        c.cancel_button.clicked.connect(self.cancel)
        c.png_button.clicked.connect(lambda: self._ask_export("PNG image (*.png)", ".png", self.export_png, "grid"))
        c.gif_button.clicked.connect(lambda: self._ask_export("GIF animation (*.gif)", ".gif", self.export_gif,
                                                              "animation"))
        c.strip_button.clicked.connect(lambda: self._ask_export("PNG image (*.png)", ".png", self.export_strip,
                                                                "strip"))
        c.export_cancel.clicked.connect(self.exporter.cancel)
        c.model_combo.currentIndexChanged.connect(self._on_model)
        c.steering.guide_changed.connect(self._check_guide)
        c.steering.guide_browse.clicked.connect(self._browse_guide)
        c.show_eps.toggled.connect(self.lanes.set_show_eps)
        self.exporter.progress.connect(self._on_export_progress)
        self.exporter.finished.connect(self._on_exported)
        self.exporter.cancelled.connect(lambda: self._end_export("Export cancelled: nothing was written."))
        self.exporter.failed.connect(self._on_export_failed)
        self.player.current_changed.connect(self._request_render)
        self._runner.planned.connect(self._on_planned)
        self._runner.frame.connect(self._on_frame)
        self._runner.finished.connect(self._on_finished)
        self._runner.failed.connect(self._on_failed)
        self._state.run_changed.connect(lambda _p: self.refresh_models())
        self._state.models_changed.connect(self._on_model_opened)

    # -- models ---------------------------------------------------------------------------------
    def model_choices(self) -> list[tuple[str, Path]]:
        """(label, path) of every model on offer: the current run, runs on disk, the demo model."""
        return [(choice.label, choice.path) for choice in model_choices(self._state.run_path,
                                                                       opened=self._state.opened_models)]

    def refresh_models(self) -> None:
        """Refill both model lists, keeping the selection when it is still offered, else the best model."""
        choices = model_choices(self._state.run_path, opened=self._state.opened_models)
        best = default_choice(choices)
        self.controls.set_models([(c.label, c.path) for c in choices], best.path if best is not None else None)
        self._update_buttons()

    def _on_model(self, *_args) -> None:
        """The chosen model's T (DDPM's steps field, the cost in NFE), its classes and the guide models on offer,
        read from config files and checkpoint headers (no weights)."""
        path = self.controls.model_combo.currentData()
        info = model_info(path) if path else None
        self.controls.set_timesteps(info.timesteps if info is not None else None)
        self._posthoc_range(path)
        self._measure_cost(path)
        steering = self.controls.steering
        steering.set_classes(model_classes(path) if path else ())
        steering.set_guides([(g.label, g.path) for g in guide_choices(path)] if path else [])  # -> _check_guide

    def _posthoc_range(self, path: str | None) -> None:
        """The EMA-length control: greyed at once, then enabled over the σ_rel range the chosen run's post-hoc
        snapshots can reconstruct (`app.posthoc.posthoc_range`, an SVD: on the pool)."""
        self._posthoc_jobs.renew()
        self.controls.ema_length.set_range(None)
        if path:
            self._posthoc_jobs.submit(lambda should_stop, report: report(posthoc_range(path)))

    def _measure_cost(self, path: str | None) -> None:
        """A model of MEASURE_FROM_SIDE px or more is loaded and timed on the pool (`app.sampling_cost`), so the
        cost line can say how long a run will take before it starts; smaller ones are not (seconds at most)."""
        self._cost_jobs.renew()
        self.controls.set_eval_cost(None)
        shape = model_shape(path) if path else None
        if shape is None or shape[-1] < MEASURE_FROM_SIDE:
            return
        device, count = self._state.device, self.controls.count.value()

        def job(should_stop, report) -> None:
            try:
                report(measure_model(path, device, count))
            except (OSError, ValueError, RuntimeError) as exc:  # a damaged model says so when Sample is pressed
                log.info("could not measure %s: %s", path, exc)

        self._cost_jobs.submit(job)

    @Slot(object)
    def _on_cost(self, cost: EvalCost) -> None:
        self.controls.set_eval_cost(cost)

    def _check_guide(self) -> None:
        """Say at once, in one line, why the chosen guide cannot guide the chosen model (None: it fits)."""
        model, guide = self.controls.model_combo.currentData(), self.controls.steering.guide()
        was = self.guide_error
        self.guide_error = guide_problem(model, guide) if model and guide is not None else None
        if self.guide_error is not None:
            self.controls.set_status(self.guide_error, error=True)
        elif was is not None:
            self.controls.set_status("Choose a model and press Sample.")

    def _browse_guide(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "A guide model (a weaker checkpoint)", "",
                                              "Checkpoints (*.safetensors)")
        if path:
            self.controls.steering.add_guide(Path(path))

    def _on_model_opened(self) -> None:
        """File → Open Model…: refill the lists and select the model just opened."""
        self.refresh_models()
        opened = self._state.opened_models
        index = self.controls.model_combo.findData(str(Path(opened[0]))) if opened else -1
        if index >= 0:
            self.controls.model_combo.setCurrentIndex(index)

    def add_model(self, path: str | Path, label: str | None = None) -> None:
        """Offer a checkpoint file or run folder and select it."""
        self.controls.add_model(Path(path), label)
        self._update_buttons()

    def _browse_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a checkpoint", "", "Checkpoints (*.safetensors)")
        if path:
            self.add_model(path)

    # -- sampling -------------------------------------------------------------------------------
    def sampling_config(self) -> SamplingConfig:
        return self.controls.sampling_config()

    def lane_specs(self) -> tuple[LaneSpec, ...]:
        """The lanes the current settings ask for (one, or two to compare)."""
        return self.controls.lane_specs()

    @Slot()
    def start(self) -> None:
        """Start sampling with the current settings (replacing a run in progress)."""
        try:
            lanes = self.lane_specs()
        except ValueError as exc:
            self.controls.set_status(str(exc), error=True)
            return
        self._check_guide()
        if self.guide_error is not None:
            return
        self.recording.clear()
        self.finished_reason, self.error = None, None
        self.player.clear()
        self._lanes_asked = lanes
        self._conditional = bool(self.controls.steering.classes())  # the model the lanes asked, for Evaluate
        request = SamplerRequest(lanes, with_eps=self.controls.show_eps.isChecked(), device=self._state.device)
        self._runner.start(request)
        self.controls.set_status("loading the model …")
        self._show_progress(busy=True)
        self._update_buttons()

    @Slot()
    def cancel(self) -> None:
        self._runner.cancel()

    def is_busy(self) -> bool:
        return self._runner.is_running()

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Cancel any sampling and export, and join the worker threads."""
        self.player.pause()
        self._runner.shutdown(timeout_s)
        self.exporter.shutdown(timeout_s)
        self._cost_jobs.shutdown(timeout_s)
        self._posthoc_jobs.shutdown(timeout_s)

    @Slot(object)
    def _on_planned(self, plan: SamplingPlan) -> None:
        captions = [describe_lane(spec, n) for spec, n in zip(self._lanes_asked, plan.num_steps)]
        self.recording.begin(plan, captions if len(captions) == len(plan.labels) else None)
        self.lanes.ensure(len(plan.labels))
        self.lanes.set_rows(plan.rows)
        self.lanes.set_titles(plan.labels, plan.num_steps)
        self.controls.set_status("sampling …")
        self._sampling_started, self._frames_received = time.monotonic(), 0
        self.controls.progress.setRange(0, sum(plan.frame_counts))
        self.controls.progress.setValue(0)
        self.controls.progress.setFormat("%p %")

    @Slot(object)
    def _on_frame(self, frame: SampleFrame) -> None:
        if not self.recording.add(frame):
            return
        self._frames_received += 1
        self._show_sampling_progress()
        if frame.lane == self.recording.reference:
            self.player.append_frame(frame.index, frame.num_steps, frame.t)
        elif self.player.frame_count():
            self._request_render()

    @Slot(str)
    def _on_finished(self, reason: str) -> None:
        self.finished_reason = reason
        n = self.player.frame_count()
        last = self.lane_frame(0, n - 1) if reason == "completed" and n else None
        if last is not None:  # the final images of the first lane, for Evaluate and the nearest neighbours
            lane = self._lanes_asked[0]  # the protocol of Evaluate's scores names the sampler and its steps
            asked = steering_caption(lane.class_name, lane.sampling.guidance, conditional=self._conditional,
                                     autoguided=lane.guide is not None)
            self.quality.set_samples(last.xt, checkpoint=lane.checkpoint, sampler=lane.sampling.method,
                                     steps=lane.sampling.steps, asked=asked)
        took = format_duration(time.monotonic() - self._sampling_started) if self._sampling_started else ""
        self.controls.set_status(f"done: {n} frames in {took}" if reason == "completed"
                                 else f"cancelled after {n} frames")
        self._show_progress(busy=False)
        self._render()
        self._update_buttons()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.error = message
        self.finished_reason = "failed"
        self.controls.set_status(message, error=True)
        self._show_progress(busy=False)
        self._update_buttons()

    def _show_progress(self, *, busy: bool) -> None:
        """Show the progress bar (indeterminate until the plan is known) while sampling; hide it after."""
        bar = self.controls.progress
        bar.setVisible(busy)
        self.controls.eta_label.setVisible(busy)
        self.controls.eta_label.setText("")
        if busy:
            self._sampling_started = 0.0
            bar.setRange(0, 0)  # loading the model: a busy indicator

    def _show_sampling_progress(self) -> None:
        """Frames done of frames planned, and the time left at the rate so far."""
        bar = self.controls.progress
        bar.setValue(self._frames_received)
        total, done = bar.maximum(), self._frames_received
        elapsed = time.monotonic() - self._sampling_started
        if 0 < done < total and elapsed > 0:
            self.controls.eta_label.setText(f"ETA {format_duration(elapsed * (total - done) / done)}")
        elif done >= total:
            self.controls.eta_label.setText("")

    # -- painting -------------------------------------------------------------------------------
    def frame_count(self) -> int:
        return self.player.frame_count()

    def lane_frame(self, lane: int, index: int) -> SampleFrame | None:
        """The frame of `lane` shown at player position `index` (lanes map by progress)."""
        return self.recording.lane_frame(lane, index)

    def _request_render(self, *_args) -> None:
        wait = RENDER_INTERVAL_S - (time.monotonic() - self._last_render)
        if wait <= 0:
            self._render()
        elif not self._render_timer.isActive():
            self._render_timer.start(int(wait * 1000) + 1)

    def _render(self) -> None:
        self._last_render = time.monotonic()
        index = self.player.current_index()
        for lane in range(len(self.lanes.panes)):
            self.lanes.show_frame(lane, self.recording.lane_frame(lane, index))

    # -- exports (each on the export thread, from a snapshot) ----------------------------------------
    def export_png(self, path: str | Path) -> None:
        """The final image grid of each lane (side by side, each captioned, when comparing) as PNG."""
        recording, style = self.recording.snapshot(), self.controls.export_style()
        self._export(Path(path), lambda progress, stop: recording.save_final_png(path, style))

    def export_gif(self, path: str | Path) -> None:
        """The whole animation, one GIF frame per player frame at the player's speed, each with its step and t."""
        recording, style, fps = self.recording.snapshot(), self.controls.export_style(), self.player.fps()
        self._export(Path(path), lambda progress, stop: recording.save_gif(path, fps=fps, style=style,
                                                                           progress=progress, should_stop=stop))

    def export_strip(self, path: str | Path) -> None:
        """Ho et al. Fig. 6 style: chosen steps left to right (headed by t), the first samples down, per lane."""
        n = self.frame_count()
        text = self.controls.strip_steps.text().strip()
        try:
            indices = export.parse_steps(text, n) if text else export.even_steps(n, 8)
        except ValueError as exc:
            self._on_export_failed(str(exc))
            return
        recording, style = self.recording.snapshot(), self.controls.export_style()
        key = self.controls.strip_source.currentData()
        self._export(Path(path), lambda progress, stop: recording.save_strip(path, indices, key, style))

    def is_exporting(self) -> bool:
        return self._exporting

    def _export(self, path: Path, job: ExportJob) -> None:
        if self.frame_count() == 0:
            self._on_export_failed("Nothing to export yet: sample first.")
            return
        self.exported, self.export_error, self._exporting = None, None, True
        self.controls.export_progress.setRange(0, 0)
        self.controls.set_status(f"Exporting {path.name} …")
        self.exporter.start(job)
        self._update_buttons()

    @Slot(int, int)
    def _on_export_progress(self, done: int, total: int) -> None:
        self.controls.export_progress.setRange(0, total)
        self.controls.export_progress.setValue(done)

    @Slot(object)
    def _on_exported(self, path: Path) -> None:
        self.exported = Path(path)
        self._end_export(f"Saved {path}")

    @Slot(str)
    def _on_export_failed(self, message: str) -> None:
        self.export_error = message
        self._end_export(f"Export failed: {message}", error=True)

    def _end_export(self, text: str, *, error: bool = False) -> None:
        self._exporting = False
        self.controls.set_status(text, error=error)
        self._update_buttons()

    def export_name(self, what: str, suffix: str) -> str:
        """The proposed file name: the sampled model, sampler and steps (issue 22 N18), and the class and w of a
        steered run (issue 20; 'triangle-w1-vs-w3' when two lanes compare their steering)."""
        lanes = self._lanes_asked or self.lane_specs_or_none()
        lane = lanes[0] if lanes else None
        sampling = lane.sampling if lane is not None else self.sampling_config()
        checkpoint = lane.checkpoint if lane is not None else self.controls.model_combo.currentData()
        names = [steering_name(spec.class_name, spec.sampling.guidance, autoguided=spec.guide is not None)
                 for spec in lanes]
        steering = names[0] if names else ""
        if len(names) > 1 and names[1] != names[0] and names[1]:
            a, b = names[0].split("-"), names[1].split("-")
            shared = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            steering = f"{steering or 'none'}-vs-{'-'.join(b[shared:])}"  # 'triangle-w1-vs-w3'
        return export_name(what, suffix, checkpoint=checkpoint, method=sampling.method, steps=sampling.steps,
                           steering=steering)

    def lane_specs_or_none(self) -> tuple[LaneSpec, ...]:
        """The lanes the settings ask for, or () while they ask for nothing valid (no model)."""
        try:
            return self.lane_specs()
        except ValueError:
            return ()

    def _ask_export(self, filter_text: str, suffix: str, action, what: str) -> None:
        path = ask_save_path(self, self._state.settings, "Export", self.export_name(what, suffix), filter_text,
                             suffix)
        if path is not None:
            action(path)

    def _update_buttons(self) -> None:
        busy = self.finished_reason is None and self._runner.is_running()
        self.controls.update_buttons(has_frames=self.player.frame_count() > 0, busy=busy, exporting=self._exporting)
