"""The Inpaint tab: paint the region to fill over an image selected in the Dataset tab, then let the model fill it
several times, plain replacement and RePaint side by side, each with its measured errors (`app.inpainting`).

The cost in network evaluations per fill is shown before running; the work runs on the view's `TaskRunner`
thread (only uint8 arrays and numbers come back) and Cancel returns within one sampler step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app import exports
from ddpm_studio.app.catalogue import model_info, model_shape
from ddpm_studio.app.inpainting import (
    MODES,
    InpaintOutcome,
    InpaintSettings,
    inpainting_cost,
    inpainting_grid,
    run_inpainting,
)
from ddpm_studio.app.inpainting_masks import MASK_PRESETS, check_mask
from ddpm_studio.data.transforms import ImageTransform, to_uint8
from ddpm_studio.engine import SAMPLERS
from ddpm_studio.gui.inpaint.mask_canvas import MaskCanvas
from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.widgets.image_utils import to_qpixmap
from ddpm_studio.gui.widgets.model_task_view import ModelTaskView

RESULT_SCALE = 3  # nearest upscaling of the result grids on screen


class InpaintView(ModelTaskView):
    """Pick a model and an image, paint a mask, Fill."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, "inpaint", "Fill", "Select an image in the Dataset tab and paint the region to fill.",
                         parent)
        self.outcome: InpaintOutcome | None = None
        self._timesteps: int | None = None  # T of the chosen model, read once per choice (`_on_model`)
        self._build()
        self.model_combo.currentIndexChanged.connect(self._on_model)
        state.selection_changed.connect(lambda _s: self._load_image())
        state.source_changed.connect(lambda _s: self._load_image())
        self.refresh_models()
        self._on_model()

    # -- construction ---------------------------------------------------------------------------------
    def _build(self) -> None:
        d = InpaintSettings()
        self.canvas = MaskCanvas()
        self.canvas.mask_changed.connect(self._show_cost)
        self.brush = QSpinBox()
        self.brush.setRange(0, 64)
        self.brush.setValue(self.canvas.brush)
        self.brush.setSuffix(" px")
        self.brush.valueChanged.connect(lambda v: setattr(self.canvas, "brush", v))
        self.erase = QCheckBox("Erase")
        self.erase.toggled.connect(lambda on: setattr(self.canvas, "erasing", on))
        self.rectangle = QCheckBox("Rectangle")
        self.rectangle.toggled.connect(lambda on: setattr(self.canvas, "rectangle", on))
        self.preset = QComboBox()
        self.preset.addItem("Preset…", None)
        for name in MASK_PRESETS:
            self.preset.addItem(name, name)
        self.preset.activated.connect(self._apply_preset)
        self.invert_button, self.clear_button = QPushButton("Invert"), QPushButton("Clear")
        self.invert_button.clicked.connect(self.canvas.invert)
        self.clear_button.clicked.connect(self.canvas.clear)
        brush_row = QHBoxLayout()
        for w in (QLabel("Brush"), self.brush, self.erase, self.rectangle, self.preset, self.invert_button,
                  self.clear_button):
            brush_row.addWidget(w)
        brush_row.addStretch(1)

        self.method = QComboBox()
        for name in SAMPLERS:
            self.method.addItem(SAMPLERS.label(name), name)
        self.method.setCurrentIndex(self.method.findData(d.method))
        self.steps, self.jump, self.resample, self.fills = (QSpinBox() for _ in range(4))
        for box, (low, high, value) in zip((self.steps, self.jump, self.resample, self.fills),
                                           ((1, 1000, d.steps), (1, 1000, d.jump_length), (1, 50, d.resample),
                                            (1, 16, d.fills))):
            box.setRange(low, high)
            box.setValue(value)
            box.valueChanged.connect(self._show_cost)
        self.method.currentIndexChanged.connect(self._show_cost)
        self.mode = QComboBox()
        self.mode.addItem("replace and RePaint", MODES)
        for mode in MODES:
            self.mode.addItem(mode, (mode,))
        self.mode.currentIndexChanged.connect(self._show_cost)
        self.cost = QLabel("—")
        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("Sampler", self.method)
        form.addRow("Steps", self.steps)
        form.addRow("RePaint jump / runs", self._pair(self.jump, self.resample))
        form.addRow("Fills per image", self.fills)
        form.addRow("Compare", self.mode)
        form.addRow("Cost", self.cost)
        buttons = QHBoxLayout()
        self.export_button = QPushButton("Export grids…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export)
        for w in (self.run_button, self.cancel_button, self.export_button):
            buttons.addWidget(w)
        buttons.addStretch(1)

        left = QVBoxLayout()
        left.addLayout(brush_row)
        left.addWidget(self.canvas, 1)
        settings = QGroupBox("Fill")
        settings_layout = QVBoxLayout(settings)
        settings_layout.addLayout(form)
        settings_layout.addLayout(buttons)
        settings_layout.addWidget(self.progress)
        settings_layout.addWidget(self.status)
        top = QHBoxLayout()
        top.addLayout(left, 1)
        top.addWidget(settings)
        self.result_labels = {mode: QLabel() for mode in MODES}
        self.error_labels = {mode: QLabel() for mode in MODES}
        results = QHBoxLayout()
        for mode in MODES:
            box = QGroupBox(mode)
            column = QVBoxLayout(box)
            self.result_labels[mode].setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.error_labels[mode].setWordWrap(True)
            column.addWidget(self.result_labels[mode], 1)
            column.addWidget(self.error_labels[mode])
            results.addWidget(box)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 3)
        layout.addLayout(results, 2)

    @staticmethod
    def _pair(a: QWidget, b: QWidget) -> QWidget:
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(a)
        row.addWidget(b)
        return holder

    # -- model, image and cost ------------------------------------------------------------------------
    def _on_model(self, *_args) -> None:
        """Read the chosen model's T once (its header), for every cost line until another model is chosen."""
        path = self.model_combo.currentData()
        info = model_info(path) if path else None
        self._timesteps = info.timesteps if info is not None else None
        self._load_image()
        self._show_cost()

    def _shape(self) -> tuple[int, int, int] | None:
        path = self.model_combo.currentData()
        return model_shape(path) if path else None

    def _load_image(self) -> None:
        """The first selected image of the Dataset tab at the model's size (one small decode)."""
        shape, source, selected = self._shape(), self._state.source, self._state.selected_indices
        if shape is None or source is None or not selected:
            self.canvas.set_image(None)
            return
        channels, size, _ = shape
        try:
            image = ImageTransform(size, channels)(source.load(int(selected[0])))
        except (OSError, ValueError) as exc:
            self.status.setText(f"The selected image cannot be used: {exc}")
            self.canvas.set_image(None)
            return
        self._image = image  # (C, H, W) in [-1, 1]
        self.canvas.set_image(to_uint8(image[None])[0])

    def settings(self) -> InpaintSettings:
        return InpaintSettings(method=str(self.method.currentData()), steps=self.steps.value(),
                               jump_length=self.jump.value(), resample=self.resample.value(),
                               fills=self.fills.value(), modes=tuple(self.mode.currentData()))

    def _show_cost(self, *_args) -> None:
        """NFE per fill of each mode, before running (RePaint runs each segment `resample` times)."""
        T = self._timesteps  # read by _on_model: a brush stroke never reads a file
        if T is None:
            self.cost.setText("—")
            return
        settings = self.settings()
        try:
            costs = [f"{mode} {inpainting_cost(settings.method, settings.steps, T, settings, mode)}"
                     for mode in settings.modes]
        except ValueError as exc:
            self.cost.setText(str(exc))
            return
        self.cost.setText(f"NFE per fill: {', '.join(costs)}")

    def _apply_preset(self, index: int) -> None:
        name = self.preset.itemData(index)
        if name is not None and self.canvas.image is not None:
            self.canvas.apply_preset(name)
        self.preset.setCurrentIndex(0)

    # -- running --------------------------------------------------------------------------------------
    def start(self) -> None:
        checkpoint, shape = self.model_combo.currentData(), self._shape()
        if not checkpoint or shape is None or self.canvas.image is None:
            self.status.setText("Choose a model and select an image in the Dataset tab first.")
            return
        try:
            mask = check_mask(torch.from_numpy(self.canvas.mask.astype(np.float32))[None, None], shape[1])
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        images, settings, device = self._image[None], self.settings(), self._state.device
        self.outcome = None

        def task(should_stop, report):
            return run_inpainting(checkpoint, images, mask, settings, device=device, should_stop=should_stop,
                                  on_progress=lambda mode, done, total: report((mode, done, total)))

        self._begin(task, "Filling…")

    def _on_progress(self, snapshot) -> None:
        mode, done, total = snapshot
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.status.setText(f"{mode}: step {done} of {total}")

    def _on_result(self, outcome: InpaintOutcome) -> None:
        self.outcome = outcome
        for mode in MODES:
            self.result_labels[mode].clear()
            self.error_labels[mode].clear()
        for result in outcome.results:
            label, grid = self.result_labels[result.mode], inpainting_grid(outcome, result.mode)
            room = max(1, min(RESULT_SCALE, (label.width() - 4) // grid.shape[1],
                              (label.height() - 4) // grid.shape[0]))
            label.setPixmap(to_qpixmap(exports.upscale(grid, room)))  # whole pixels, never cut
            s = result.summary()
            copies = f", copies of training images {s['copied_share']:.0%}" if "copied_share" in s else ""
            self.error_labels[result.mode].setText(
                f"{result.nfe} NFE per fill. Against the original: masked MSE {s['masked_mse']:.3f}, seam MSE "
                f"{s['seam_mse']:.3f} (mean of {result.masked_mse.size} fills){copies}.")
        self.export_button.setEnabled(True)
        self.status.setText("Done: original | input | fills, per mode.")

    def _end_progress(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.outcome is not None else 0)

    def _export(self) -> None:
        if self.outcome is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Export the inpainting grids", str(Path.home()))
        if folder:
            self.export_to(Path(folder))

    def export_to(self, folder: Path) -> list[Path]:
        """One PNG per mode (original | input | fills, 4x nearest) into `folder`."""
        assert self.outcome is not None
        return [exports.save_png(folder / f"inpaint_{r.mode}.png", inpainting_grid(self.outcome, r.mode), scale=4,
                                 caption=f"{r.mode}: {r.nfe} NFE per fill, seam MSE {r.summary()['seam_mse']:.3f}")
                for r in self.outcome.results]
