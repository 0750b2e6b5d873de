"""The sampler view: run the reverse process and animate x_t and the predicted x_0 frame by frame.

Pick a model (the run being trained, any run on disk, the shipped demo model: `app.catalogue`), a sampler,
steps, η, noise scale (temperature), "average N draws" (see `app.sampling`), seed and image count. Sampling
runs an `app.sampling.SamplingSession` in a `SamplerRunner` thread that streams uint8 frames; the view stores
them and paints the frame the `FramePlayer` points at (throttled to ~30 Hz while streaming). Compare mode runs
two lanes from the same x_T: DDPM vs DDIM, two checkpoints, or two η values. Exports: final grid PNG, GIF,
strip of steps.

The parts: `SamplerControls` (the settings column), `SamplerLanes` (the panes of each lane) and
`app.recording.SamplerRecording` (the frames per lane and the exported pictures); this view wires them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from ddpm_studio.app import exports as export
from ddpm_studio.app.catalogue import model_choices
from ddpm_studio.app.recording import SamplerRecording
from ddpm_studio.app.sampling import LaneSpec, SampleFrame, SamplingPlan
from ddpm_studio.engine import SamplingConfig
from ddpm_studio.gui.animation import FramePlayer
from ddpm_studio.gui.sampler_controls import SamplerControls
from ddpm_studio.gui.sampler_lanes import SamplerLanes
from ddpm_studio.gui.sampler_worker import SamplerRequest, SamplerRunner

if TYPE_CHECKING:
    from ddpm_studio.gui.state import AppState

RENDER_INTERVAL_S = 1 / 30


class SamplerView(QWidget):
    """Pick a model and a sampler, then watch noise become images."""

    def __init__(self, state: "AppState", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._runner = SamplerRunner(self)
        self.recording = SamplerRecording()
        self._last_render = 0.0
        self.finished_reason: str | None = None
        self.error: str | None = None
        self._build()
        self._connect()
        self.refresh_models()

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.controls = SamplerControls()
        scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(330)
        scroll.setMaximumWidth(400)
        self.lanes = SamplerLanes()
        self.player = FramePlayer()
        right = QVBoxLayout()
        right.addWidget(self.lanes, 1)
        right.addWidget(self.player)
        layout = QHBoxLayout(self)
        layout.addWidget(scroll)
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
        c.png_button.clicked.connect(lambda: self._ask_export("PNG image (*.png)", ".png", self.export_png))
        c.gif_button.clicked.connect(lambda: self._ask_export("GIF animation (*.gif)", ".gif", self.export_gif))
        c.strip_button.clicked.connect(lambda: self._ask_export("PNG image (*.png)", ".png", self.export_strip))
        c.show_eps.toggled.connect(self.lanes.set_show_eps)
        self.player.current_changed.connect(self._request_render)
        self._runner.planned.connect(self._on_planned)
        self._runner.frame.connect(self._on_frame)
        self._runner.finished.connect(self._on_finished)
        self._runner.failed.connect(self._on_failed)
        self._state.run_changed.connect(lambda _p: self.refresh_models())

    # -- models ---------------------------------------------------------------------------------
    def model_choices(self) -> list[tuple[str, Path]]:
        """(label, path) of every model on offer: the current run, runs on disk, the demo model."""
        return [(choice.label, choice.path) for choice in model_choices(self._state.run_path)]

    def refresh_models(self) -> None:
        """Refill both model lists, keeping the selection when it is still offered."""
        self.controls.set_models(self.model_choices())
        self._update_buttons()

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
        self.recording.clear()
        self.finished_reason, self.error = None, None
        self.player.clear()
        request = SamplerRequest(lanes, with_eps=self.controls.show_eps.isChecked(), device=self._state.device)
        self._runner.start(request)
        self.controls.set_status("loading the model …")
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
    def _on_planned(self, plan: SamplingPlan) -> None:
        self.recording.begin(plan)
        self.lanes.ensure(len(plan.labels))
        self.lanes.set_titles(plan.labels, plan.num_steps)
        self.controls.set_status("sampling …")

    @Slot(object)
    def _on_frame(self, frame: SampleFrame) -> None:
        if not self.recording.add(frame):
            return
        if frame.lane == self.recording.reference:
            self.player.append_frame(frame.index, frame.num_steps, frame.t)
        elif self.player.frame_count():
            self._request_render()

    @Slot(str)
    def _on_finished(self, reason: str) -> None:
        self.finished_reason = reason
        n = self.player.frame_count()
        self.controls.set_status(f"done: {n} frames" if reason == "completed" else f"cancelled after {n} frames")
        self._render()
        self._update_buttons()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.error = message
        self.finished_reason = "failed"
        self.controls.set_status(message, error=True)
        self._update_buttons()

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

    # -- exports --------------------------------------------------------------------------------
    def export_png(self, path: str | Path) -> Path:
        """The final image grid of each lane (side by side when comparing) as PNG."""
        return export.save_png(path, self.recording.final_grids(self.frame_count() - 1))

    def export_gif(self, path: str | Path) -> Path:
        """The whole animation, one GIF frame per player frame, at the player's speed."""
        frames = [self.recording.composite(i) for i in range(self.frame_count())]
        if not frames:
            raise ValueError("Nothing to export yet: sample first.")
        scale = max(1, 320 // max(frames[0].shape[:2]))
        return export.save_gif(path, frames, fps=self.player.fps(), scale=scale)

    def export_strip(self, path: str | Path) -> Path:
        """Ho et al. Fig. 6 style: chosen steps left to right, the first samples top to bottom, per lane."""
        n = self.frame_count()
        text = self.controls.strip_steps.text().strip()
        indices = export.parse_steps(text, n) if text else export.even_steps(n, 8)
        strips = self.recording.strips(indices, self.controls.strip_source.currentData())
        return export.save_png(path, strips, scale=2)

    def _ask_export(self, filter_text: str, suffix: str, action: Callable[[str], Path]) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export", str(Path.home() / f"samples{suffix}"), filter_text)
        if not path:
            return
        if not path.lower().endswith(suffix):
            path += suffix
        try:
            written = action(path)
        except (ValueError, OSError) as exc:
            self.controls.set_status(f"Export failed: {exc}", error=True)
            return
        self.controls.set_status(f"Saved {written}")

    def _update_buttons(self) -> None:
        self.controls.update_buttons(has_frames=self.player.frame_count() > 0)
