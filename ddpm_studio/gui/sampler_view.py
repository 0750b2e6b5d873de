"""The sampler view: run the reverse process and animate x_t and the predicted x_0 frame by frame.

Pick a model (the run being trained, any run on disk, the shipped demo model), DDPM or DDIM, steps, η,
noise scale (temperature), "average N draws" (see `sampler_worker`), seed and image count. Sampling runs
in a `SamplerRunner` thread that streams uint8 frames; the view stores them and paints the frame the
`FramePlayer` points at (throttled to ~30 Hz while streaming). Compare mode runs two lanes from the same
x_T: DDPM vs DDIM, two checkpoints, or two η values. Exports: final grid PNG, GIF, strip of steps.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGridLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QScrollArea, QSpinBox,
                               QVBoxLayout, QWidget)

from ddpm_studio.engine import SamplingConfig
from ddpm_studio.gui import export
from ddpm_studio.gui.animation import FramePlayer, ImagePane
from ddpm_studio.gui.sampler_worker import (LaneSpec, SamplerFrame, SamplerPlan, SamplerRequest, SamplerRunner,
                                           available_models)

if TYPE_CHECKING:
    from ddpm_studio.gui.state import AppState

COMPARE_MODES = {"none": "no comparison", "ddpm_ddim": "DDPM vs DDIM", "checkpoints": "two checkpoints",
                 "eta": "two η values (DDIM)"}
RENDER_INTERVAL_S = 1 / 30
AVERAGE_HELP = ("Average N draws: each image runs N chains from the same starting noise with different fresh "
                "noise; the shown x̂₀ and the final image are their mean. Cleaner, less grainy images, but the "
                "chains' details average away: less variety and softer detail. No effect with DDIM η = 0.")


class SamplerView(QWidget):
    """Pick a model and a sampler, then watch noise become images."""

    def __init__(self, state: "AppState", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._runner = SamplerRunner(self)
        self._plan: SamplerPlan | None = None
        self._frames: list[list[SamplerFrame]] = []
        self._reference = 0  # the lane with the most frames drives the player
        self._last_render = 0.0
        self.finished_reason: str | None = None
        self.error: str | None = None
        self._build()
        self._connect()
        self.refresh_models()
        self._on_method()

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.model_combo = QComboBox()
        self.model_combo.setMinimumContentsLength(20)
        self.refresh_button = QPushButton("Refresh")
        self.browse_button = QPushButton("Checkpoint file…")
        self.method = QComboBox()
        self.method.addItem("DDIM", "ddim")
        self.method.addItem("DDPM (ancestral, T steps)", "ddpm")
        self.steps = QSpinBox()
        self.steps.setRange(1, 10000)
        self.steps.setValue(50)
        self.eta = self._double(0.0, 0.0, 2.0, 0.1)
        self.noise_scale = self._double(1.0, 0.0, 2.0, 0.05)
        self.noise_scale.setToolTip("Temperature: scales the fresh noise z of each stochastic step. "
                                    "< 1 gives smoother, less diverse samples (no effect with DDIM η = 0).")
        self.average = QSpinBox()
        self.average.setRange(1, 32)
        self.average.setToolTip(AVERAGE_HELP)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.count = QSpinBox()
        self.count.setRange(1, 256)
        self.count.setValue(16)
        self.clip = QCheckBox("clip x̂₀ to [-1, 1]")
        self.clip.setChecked(True)
        self.show_eps = QCheckBox("show predicted noise ε̂")
        self.compare = QComboBox()
        for key, text in COMPARE_MODES.items():
            self.compare.addItem(text, key)
        self.model_b = QComboBox()
        self.eta_b = self._double(1.0, 0.0, 2.0, 0.1)
        self.sample_button = QPushButton("Sample")
        self.cancel_button = QPushButton("Cancel")
        self.status = QLabel("Choose a model and press Sample.")
        self.status.setWordWrap(True)
        self.png_button = QPushButton("Final grid (PNG)…")
        self.gif_button = QPushButton("Animation (GIF)…")
        self.strip_button = QPushButton("Strip of steps…")
        self.strip_steps = QLineEdit()
        self.strip_steps.setPlaceholderText("frames, e.g. 0, 10, 20, -1 (empty: 8 evenly)")
        self.strip_source = QComboBox()
        self.strip_source.addItem("predicted x̂₀", "x0")
        self.strip_source.addItem("x_t", "xt")

        model_box = QGroupBox("Model")
        grid = QGridLayout(model_box)
        grid.addWidget(self.model_combo, 0, 0, 1, 2)
        grid.addWidget(self.refresh_button, 1, 0)
        grid.addWidget(self.browse_button, 1, 1)
        sampler_box = QGroupBox("Sampler")
        form = QFormLayout(sampler_box)
        form.addRow("method", self.method)
        form.addRow("steps", self.steps)
        form.addRow("η (DDIM)", self.eta)
        form.addRow("noise scale", self.noise_scale)
        form.addRow("average N draws", self.average)
        form.addRow("seed", self.seed)
        form.addRow("images", self.count)
        form.addRow(self.clip)
        form.addRow(self.show_eps)
        compare_box = QGroupBox("Compare (same starting noise)")
        form = QFormLayout(compare_box)
        form.addRow(self.compare)
        form.addRow("second model", self.model_b)
        form.addRow("second η", self.eta_b)
        run_row = QHBoxLayout()
        run_row.addWidget(self.sample_button)
        run_row.addWidget(self.cancel_button)
        export_box = QGroupBox("Export")
        form = QFormLayout(export_box)
        form.addRow(self.png_button)
        form.addRow(self.gif_button)
        form.addRow("strip of", self.strip_source)
        form.addRow(self.strip_steps)
        form.addRow(self.strip_button)
        controls = QWidget()
        left = QVBoxLayout(controls)
        for w in (model_box, sampler_box, compare_box):
            left.addWidget(w)
        left.addLayout(run_row)
        left.addWidget(self.status)
        left.addWidget(export_box)
        left.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(330)
        scroll.setMaximumWidth(400)

        self.lanes_widget = QWidget()
        self.lanes_layout = QVBoxLayout(self.lanes_widget)
        self.lanes_layout.setContentsMargins(0, 0, 0, 0)
        self.lane_panes: list[tuple[QLabel, ImagePane, ImagePane, ImagePane]] = []
        self._ensure_lanes(1)
        self.player = FramePlayer()
        right = QVBoxLayout()
        right.addWidget(self.lanes_widget, 1)
        right.addWidget(self.player)
        layout = QHBoxLayout(self)
        layout.addWidget(scroll)
        layout.addLayout(right, 1)
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(self._render)

    @staticmethod
    def _double(value: float, low: float, high: float, step: float) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(low, high)
        box.setSingleStep(step)
        box.setDecimals(2)
        box.setValue(value)
        return box

    def _connect(self) -> None:
        self.method.currentIndexChanged.connect(self._on_method)
        self.compare.currentIndexChanged.connect(self._on_method)
        self.refresh_button.clicked.connect(self.refresh_models)
        self.browse_button.clicked.connect(self._browse_checkpoint)
        self.sample_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.png_button.clicked.connect(lambda: self._ask_export("PNG image (*.png)", ".png", self.export_png))
        self.gif_button.clicked.connect(lambda: self._ask_export("GIF animation (*.gif)", ".gif", self.export_gif))
        self.strip_button.clicked.connect(lambda: self._ask_export("PNG image (*.png)", ".png", self.export_strip))
        self.show_eps.toggled.connect(self._layout_lanes)
        self.player.current_changed.connect(self._request_render)
        self._runner.planned.connect(self._on_planned)
        self._runner.frame.connect(self._on_frame)
        self._runner.finished.connect(self._on_finished)
        self._runner.failed.connect(self._on_failed)
        self._state.run_changed.connect(lambda _p: self.refresh_models())

    # -- models ---------------------------------------------------------------------------------
    def model_choices(self) -> list[tuple[str, Path]]:
        """(label, path) of every model on offer: the current run, runs on disk, the demo model."""
        return available_models(self._state.run_path)

    def refresh_models(self) -> None:
        """Refill both model lists, keeping the selection when it is still offered."""
        for combo in (self.model_combo, self.model_b):
            keep = combo.currentData()
            combo.clear()
            for label, path in self.model_choices():
                combo.addItem(label, str(path))
            index = combo.findData(keep)
            combo.setCurrentIndex(index if index >= 0 else (1 if combo is self.model_b and combo.count() > 1 else 0))
        self._update_buttons()

    def add_model(self, path: str | Path, label: str | None = None) -> None:
        """Offer a checkpoint file or run folder and select it."""
        path = Path(path)
        for combo in (self.model_combo, self.model_b):
            if combo.findData(str(path)) < 0:
                combo.addItem(label or path.name, str(path))
        self.model_combo.setCurrentIndex(self.model_combo.findData(str(path)))
        self._update_buttons()

    def _browse_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a checkpoint", "", "Checkpoints (*.safetensors)")
        if path:
            self.add_model(path)

    # -- sampling -------------------------------------------------------------------------------
    def sampling_config(self) -> SamplingConfig:
        return SamplingConfig(method=self.method.currentData(), steps=self.steps.value(), eta=self.eta.value(),
                              clip_x0=self.clip.isChecked(), noise_scale=self.noise_scale.value(),
                              seed=self.seed.value(), count=self.count.value())

    def lane_specs(self) -> tuple[LaneSpec, ...]:
        """The lanes the current settings ask for (one, or two to compare)."""
        model = self.model_combo.currentData()
        if not model:
            raise ValueError("No model: train one, open a run, or choose a checkpoint file.")
        cfg, n, mode = self.sampling_config(), self.average.value(), self.compare.currentData()
        name = self.model_combo.currentText()
        if mode == "ddpm_ddim":
            return (LaneSpec("DDPM", Path(model), replace(cfg, method="ddpm"), n),
                    LaneSpec(f"DDIM, {cfg.steps} steps, η = {cfg.eta:g}", Path(model), replace(cfg, method="ddim"), n))
        if mode == "checkpoints":
            other = self.model_b.currentData()
            if not other:
                raise ValueError("Choose the second model to compare with.")
            return (LaneSpec(name, Path(model), cfg, n), LaneSpec(self.model_b.currentText(), Path(other), cfg, n))
        if mode == "eta":
            a, b = replace(cfg, method="ddim"), replace(cfg, method="ddim", eta=self.eta_b.value())
            return (LaneSpec(f"DDIM η = {a.eta:g}", Path(model), a, n), LaneSpec(f"DDIM η = {b.eta:g}", Path(model), b, n))
        return (LaneSpec(name, Path(model), cfg, n),)

    @Slot()
    def start(self) -> None:
        """Start sampling with the current settings (replacing a run in progress)."""
        try:
            lanes = self.lane_specs()
        except ValueError as exc:
            self._set_status(str(exc), error=True)
            return
        self._frames, self._plan, self.finished_reason, self.error = [], None, None, None
        self.player.clear()
        device = self._state.device if self._state.device in ("cpu", "cuda") else "cpu"
        self._runner.start(SamplerRequest(lanes, with_eps=self.show_eps.isChecked(), device=device))
        self._set_status("loading the model …")
        self._update_buttons()

    @Slot()
    def cancel(self) -> None:
        self._runner.cancel()

    def is_busy(self) -> bool:
        return self._runner.is_running()

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Cancel any sampling and join the worker thread."""
        self.player.pause()
        self._runner.shutdown(timeout_s)

    @Slot(object)
    def _on_planned(self, plan: SamplerPlan) -> None:
        self._plan = plan
        self._frames = [[] for _ in plan.labels]
        self._reference = int(np.argmax(plan.frame_counts))
        self._ensure_lanes(len(plan.labels))
        for (title, *_), label, steps in zip(self.lane_panes, plan.labels, plan.num_steps):
            title.setText(f"<b>{label}</b> — {steps} steps")
        self._set_status("sampling …")

    @Slot(object)
    def _on_frame(self, frame: SamplerFrame) -> None:
        if frame.lane >= len(self._frames):
            return
        self._frames[frame.lane].append(frame)
        if frame.lane == self._reference:
            self.player.append_frame(frame.index, frame.num_steps, frame.t)
        elif self.player.frame_count():
            self._request_render()

    @Slot(str)
    def _on_finished(self, reason: str) -> None:
        self.finished_reason = reason
        n = self.player.frame_count()
        self._set_status(f"done: {n} frames" if reason == "completed" else f"cancelled after {n} frames")
        self._render()
        self._update_buttons()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.error = message
        self.finished_reason = "failed"
        self._set_status(message, error=True)
        self._update_buttons()

    # -- painting -------------------------------------------------------------------------------
    def frame_count(self) -> int:
        return self.player.frame_count()

    def lane_frame(self, lane: int, index: int) -> SamplerFrame | None:
        """The frame of `lane` shown at player position `index` (lanes map by progress)."""
        if lane >= len(self._frames) or not self._frames[lane] or self._plan is None:
            return None
        n_ref, n_lane = self._plan.frame_counts[self._reference], self._plan.frame_counts[lane]
        j = round(index * (n_lane - 1) / (n_ref - 1)) if n_ref > 1 else 0
        return self._frames[lane][min(j, len(self._frames[lane]) - 1)]

    def _request_render(self, *_args) -> None:
        wait = RENDER_INTERVAL_S - (time.monotonic() - self._last_render)
        if wait <= 0:
            self._render()
        elif not self._render_timer.isActive():
            self._render_timer.start(int(wait * 1000) + 1)

    def _render(self) -> None:
        self._last_render = time.monotonic()
        index = self.player.current_index()
        for lane, (_title, xt_pane, x0_pane, eps_pane) in enumerate(self.lane_panes):
            frame = self.lane_frame(lane, index)
            if frame is None:
                continue
            xt_pane.set_title(f"x_t  (t = {frame.t})" if frame.index < frame.num_steps - 1 else "final image x₀")
            xt_pane.set_image(export.tile(frame.xt))
            x0_pane.set_image(export.tile(frame.x0))
            eps_pane.set_image(export.tile(frame.eps) if frame.eps is not None else None)

    def _ensure_lanes(self, count: int) -> None:
        while len(self.lane_panes) < count:
            row = QWidget()
            layout = QGridLayout(row)
            layout.setContentsMargins(0, 0, 0, 0)
            title = QLabel()
            panes = (ImagePane("x_t"), ImagePane("predicted x̂₀"), ImagePane("predicted noise ε̂"))
            layout.addWidget(title, 0, 0, 1, 3)
            for i, pane in enumerate(panes):
                layout.addWidget(pane, 1, i)
                layout.setColumnStretch(i, 1)
            layout.setRowStretch(1, 1)
            self.lanes_layout.addWidget(row, 1)
            self.lane_panes.append((title, *panes))
        for i, (title, *_panes) in enumerate(self.lane_panes):
            title.parentWidget().setVisible(i < count)
        self._layout_lanes()

    def _layout_lanes(self) -> None:
        on = self.show_eps.isChecked()
        for _title, _xt, _x0, eps_pane in self.lane_panes:
            eps_pane.setVisible(on)
            eps_pane.parentWidget().layout().setColumnStretch(2, 1 if on else 0)

    # -- exports --------------------------------------------------------------------------------
    def _composite(self, index: int) -> np.ndarray:
        """What the view shows at player position `index`, as one image: a row of panes per lane."""
        frames = [self.lane_frame(lane, index) for lane in range(len(self._frames))]
        return export.compose([(f.xt, f.x0, f.eps) for f in frames if f is not None])

    def export_png(self, path: str | Path) -> Path:
        """The final image grid of each lane (side by side when comparing) as PNG."""
        last = self.frame_count() - 1
        grids = [export.tile(f.xt) for lane in range(len(self._frames)) if (f := self.lane_frame(lane, last))]
        if last < 0 or not grids:
            raise ValueError("Nothing to export yet: sample first.")
        return export.save_png(path, export.hstack(grids))

    def export_gif(self, path: str | Path) -> Path:
        """The whole animation, one GIF frame per player frame, at the player's speed."""
        frames = [self._composite(i) for i in range(self.frame_count())]
        if not frames:
            raise ValueError("Nothing to export yet: sample first.")
        scale = max(1, 320 // max(frames[0].shape[:2]))
        return export.save_gif(path, frames, fps=self.player.fps(), scale=scale)

    def export_strip(self, path: str | Path) -> Path:
        """Ho et al. Fig. 6 style: chosen steps left to right, the first samples top to bottom, per lane."""
        n = self.frame_count()
        text = self.strip_steps.text().strip()
        indices = export.parse_steps(text, n) if text else export.even_steps(n, 8)
        if not indices:
            raise ValueError("Nothing to export yet: sample first.")
        key = self.strip_source.currentData()
        strips = []
        for lane in range(len(self._frames)):
            frames = [self.lane_frame(lane, i) for i in indices]
            strips.append(export.make_strip([getattr(f, key) for f in frames if f is not None], rows=4))
        return export.save_png(path, export.vstack(strips), scale=2)

    def _ask_export(self, filter_text: str, suffix: str, action) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export", str(Path.home() / f"samples{suffix}"), filter_text)
        if not path:
            return
        if not path.lower().endswith(suffix):
            path += suffix
        try:
            written = action(path)
        except (ValueError, OSError) as exc:
            self._set_status(f"Export failed: {exc}", error=True)
            return
        self._set_status(f"Saved {written}")

    # -- state ----------------------------------------------------------------------------------
    def _on_method(self, *_args) -> None:
        ddim = self.method.currentData() == "ddim"
        mode = self.compare.currentData()
        self.steps.setEnabled(ddim or mode == "ddpm_ddim" or mode == "eta")
        self.eta.setEnabled(ddim or mode in ("ddpm_ddim", "eta"))
        self.model_b.setEnabled(mode == "checkpoints")
        self.eta_b.setEnabled(mode == "eta")

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #b00020;" if error else "")

    def _update_buttons(self) -> None:
        has_model = self.model_combo.count() > 0
        self.sample_button.setEnabled(has_model)
        has_frames = self.player.frame_count() > 0
        for b in (self.png_button, self.gif_button, self.strip_button):
            b.setEnabled(has_frames)
