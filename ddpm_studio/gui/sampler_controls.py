"""The sampler view's settings column: model, sampler, comparison, Sample/Cancel, status and exports.

`SamplerControls` owns these widgets and turns them into what the worker takes: `sampling_config()`
(a `SamplingConfig`) and `lane_specs()` (one lane, or two from the same x_T to compare). It enables
only the fields the chosen method and comparison use. The sampler view wires its buttons.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.sampling import LaneSpec
from ddpm_studio.engine import SamplingConfig
from ddpm_studio.engine.config import SAMPLING_METHODS

METHOD_LABELS = {"ddim": "DDIM", "ddpm": "DDPM (ancestral, T steps)"}  # others show their name
COMPARE_MODES = {"none": "no comparison", "ddpm_ddim": "DDPM vs DDIM", "checkpoints": "two checkpoints",
                 "eta": "two η values (DDIM)"}
AVERAGE_HELP = ("Average N draws: each image runs N chains from the same starting noise with different fresh "
                "noise; the shown x̂₀ and the final image are their mean. Cleaner, less grainy images, but the "
                "chains' details average away: less variety and softer detail. No effect with DDIM η = 0.")


def _double(value: float, low: float, high: float, step: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(2)
    box.setValue(value)
    return box


class SamplerControls(QWidget):
    """Model, sampler and comparison settings, the Sample/Cancel buttons, a status line and the exports."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._build_model_and_sampler()
        self._build_compare_run_export()
        self._build_layout()
        self.method.currentIndexChanged.connect(self._on_method)
        self.compare.currentIndexChanged.connect(self._on_method)
        self._on_method()

    # -- construction ---------------------------------------------------------------------------
    def _build_model_and_sampler(self) -> None:
        self.model_combo = QComboBox()
        self.model_combo.setMinimumContentsLength(20)
        self.refresh_button = QPushButton("Refresh")
        self.browse_button = QPushButton("Checkpoint file…")
        d = SamplingConfig()
        self.method = QComboBox()
        for method in sorted(SAMPLING_METHODS, key=lambda m: m != d.method):  # the default first
            self.method.addItem(METHOD_LABELS.get(method, method), method)
        self.steps = QSpinBox()
        self.steps.setRange(1, 10000)  # more than T is the engine's error, reported when sampling starts
        self.steps.setValue(d.steps)
        self.eta = _double(d.eta, 0.0, 2.0, 0.1)
        self.noise_scale = _double(d.noise_scale, 0.0, 2.0, 0.05)
        self.noise_scale.setToolTip("Temperature: scales the fresh noise z of each stochastic step. "
                                    "< 1 gives smoother, less diverse samples (no effect with DDIM η = 0).")
        self.average = QSpinBox()
        self.average.setRange(1, 32)
        self.average.setToolTip(AVERAGE_HELP)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(d.seed)
        self.count = QSpinBox()
        self.count.setRange(1, 256)
        self.count.setValue(d.count)
        self.clip = QCheckBox("clip x̂₀ to [-1, 1]")
        self.clip.setChecked(d.clip_x0)
        self.show_eps = QCheckBox("show predicted noise ε̂")

    def _build_compare_run_export(self) -> None:
        self.compare = QComboBox()
        for key, text in COMPARE_MODES.items():
            self.compare.addItem(text, key)
        self.model_b = QComboBox()
        self.eta_b = _double(1.0, 0.0, 2.0, 0.1)
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

    def _build_layout(self) -> None:
        model_box = QGroupBox("Model")
        grid = QGridLayout(model_box)
        grid.addWidget(self.model_combo, 0, 0, 1, 2)
        grid.addWidget(self.refresh_button, 1, 0)
        grid.addWidget(self.browse_button, 1, 1)
        sampler_box = QGroupBox("Sampler")
        form = QFormLayout(sampler_box)
        for label, widget in (("method", self.method), ("steps", self.steps), ("η (DDIM)", self.eta),
                              ("noise scale", self.noise_scale), ("average N draws", self.average),
                              ("seed", self.seed), ("images", self.count)):
            form.addRow(label, widget)
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
        left = QVBoxLayout(self)
        for w in (model_box, sampler_box, compare_box):
            left.addWidget(w)
        left.addLayout(run_row)
        left.addWidget(self.status)
        left.addWidget(export_box)
        left.addStretch(1)

    # -- models ---------------------------------------------------------------------------------
    def set_models(self, choices: list[tuple[str, Path]]) -> None:
        """Refill both model lists with (label, path), keeping the selection when it is still offered."""
        for combo in (self.model_combo, self.model_b):
            keep = combo.currentData()
            combo.clear()
            for label, path in choices:
                combo.addItem(label, str(path))
            index = combo.findData(keep)
            combo.setCurrentIndex(index if index >= 0 else (1 if combo is self.model_b and combo.count() > 1 else 0))

    def add_model(self, path: Path, label: str | None = None) -> None:
        """Offer a checkpoint file or run folder in both lists and select it in the first."""
        for combo in (self.model_combo, self.model_b):
            if combo.findData(str(path)) < 0:
                combo.addItem(label or path.name, str(path))
        self.model_combo.setCurrentIndex(self.model_combo.findData(str(path)))

    # -- settings -------------------------------------------------------------------------------
    def sampling_config(self) -> SamplingConfig:
        return replace(SamplingConfig(), method=self.method.currentData(), steps=self.steps.value(),
                       eta=self.eta.value(), clip_x0=self.clip.isChecked(), noise_scale=self.noise_scale.value(),
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
            return (LaneSpec(f"DDIM η = {a.eta:g}", Path(model), a, n),
                    LaneSpec(f"DDIM η = {b.eta:g}", Path(model), b, n))
        return (LaneSpec(name, Path(model), cfg, n),)

    # -- state ----------------------------------------------------------------------------------
    def set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #b00020;" if error else "")

    def update_buttons(self, *, has_frames: bool) -> None:
        """Sample needs a model; the exports need frames."""
        self.sample_button.setEnabled(self.model_combo.count() > 0)
        for b in (self.png_button, self.gif_button, self.strip_button):
            b.setEnabled(has_frames)

    def _on_method(self, *_args) -> None:
        ddim = self.method.currentData() == "ddim"
        mode = self.compare.currentData()
        self.steps.setEnabled(ddim or mode == "ddpm_ddim" or mode == "eta")
        self.eta.setEnabled(ddim or mode in ("ddpm_ddim", "eta"))
        self.model_b.setEnabled(mode == "checkpoints")
        self.eta_b.setEnabled(mode == "eta")
