"""The sampler view's settings column: model, sampler, comparison, Sample/Cancel, status and exports.

`SamplerControls` owns these widgets and turns them into what the worker takes: `sampling_config()`
(a `SamplingConfig`) and `lane_specs()` (one lane, or two from the same x_T to compare). It enables
only the fields the chosen method and comparison use; with DDPM the greyed steps field shows T (DDPM runs
all T steps), and a line shows the cost in network evaluations (the sampler table's NFE counter). The
methods are the sampler table's rows with their labels. The view wires the buttons and places `run_bar` (Sample, Cancel,
the progress bar with its ETA, the status line) outside the scrolling column, so it is never clipped.
The export box chooses a nearest-neighbour scale and captions, and has its own progress bar and Cancel.
`SteeringControls` (class, guidance scale w, guide model) sits under the sampler; its w and class reach every lane,
and the "two guidance scales" comparison gives lane B its own (the same x_T, so "w = 1 vs w = 3" shows what w
does). The cost line says when guidance doubles the batch: NFE count steps, and guidance does not add steps.
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
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.recording import ExportStyle, steering_words
from ddpm_studio.app.sampling import LaneSpec
from ddpm_studio.app.sampling_cost import WARN_SECONDS, EvalCost, cost_warning, estimate_seconds, format_seconds
from ddpm_studio.engine import SAMPLERS, SamplingConfig, nfe
from ddpm_studio.gui.sampler.ema_length_control import EmaLengthControl
from ddpm_studio.gui.sampler.steering_controls import SteeringControls

SCALES = (0, 1, 2, 3, 4, 6, 8)  # export scale choices; 0 = automatic (longest side near 512 px)
# "two samplers": the method box's sampler beside any second one (issue 22 N12: only DDPM vs DDIM was offered)
COMPARE_MODES = {"none": "no comparison", "samplers": "two samplers", "checkpoints": "two checkpoints",
                 "eta": "two η values (DDIM)", "guidance": "two guidance scales / classes"}
SECOND_METHOD = "ddpm"  # the second sampler a comparison starts with (DDIM vs DDPM, the classic pair)
NFE_HELP = ("Network function evaluations: what a sampler costs (Heun: 2 per step but the last; DDPM: T, whatever "
            "the steps). Guidance does not add steps: it doubles the batch of each evaluation (a conditional and an "
            "unconditional prediction, or the model and its guide), so each costs about twice.")
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
        self.method_b.currentIndexChanged.connect(self._on_method)
        self.steps.valueChanged.connect(self._on_steps)
        self.steering.changed.connect(self._show_cost)
        self._on_method()

    # -- construction ---------------------------------------------------------------------------
    def _build_model_and_sampler(self) -> None:
        self.model_combo = QComboBox()
        self.model_combo.setMinimumContentsLength(20)
        self.refresh_button = QPushButton("Refresh")
        self.browse_button = QPushButton("Checkpoint file…")
        d = SamplingConfig()
        self.method = QComboBox()
        for method in sorted(SAMPLERS, key=lambda m: m != d.method):  # the default first
            self.method.addItem(SAMPLERS.label(method), method)
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
        self.count.valueChanged.connect(lambda _v: self._show_cost())  # the time estimate scales with it
        self.clip = QCheckBox("clip x̂₀ to [-1, 1]")
        self.clip.setChecked(d.clip_x0)
        self.show_eps = QCheckBox("show predicted noise ε̂")
        self.nfe_label = QLabel()
        self.nfe_label.setToolTip(NFE_HELP)
        self.nfe_label.setWordWrap(True)
        self.steering = SteeringControls()
        self.ema_length = EmaLengthControl()  # post-hoc EMA σ_rel of a run with snapshots (the first model's lanes)
        self._timesteps: int | None = None  # T of the chosen model, when known
        self._eval_cost: EvalCost | None = None  # the chosen model's measured evaluation (big models only)
        self._steps_choice = d.steps  # the person's steps, kept while DDPM shows T

    def _build_compare_run_export(self) -> None:
        self.compare = QComboBox()
        for key, text in COMPARE_MODES.items():
            self.compare.addItem(text, key)
        self.model_b = QComboBox()
        self.method_b = QComboBox()
        for method in SAMPLERS:
            self.method_b.addItem(SAMPLERS.label(method), method)
        self.method_b.setCurrentIndex(self.method_b.findData(SECOND_METHOD))
        self.method_b.setToolTip("The second sampler, with the same steps, η and starting noise as the first")
        self.eta_b = _double(1.0, 0.0, 2.0, 0.1)
        icon = self.style().standardIcon
        self.sample_button = QPushButton(icon(QStyle.StandardPixmap.SP_MediaPlay), "Sample")
        self.cancel_button = QPushButton(icon(QStyle.StandardPixmap.SP_MediaStop), "Cancel")
        self.cancel_button.setEnabled(False)
        self.status = QLabel("Choose a model and press Sample.")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.eta_label = QLabel()
        self.eta_label.hide()
        self.scale = QComboBox()
        for factor in SCALES:
            self.scale.addItem("auto (~512 px)" if factor == 0 else f"{factor}×", factor)
        self.scale.setToolTip("Enlarge exported pictures with nearest-neighbour (crisp pixels, no blur).")
        self.captions = QCheckBox("captions (step, t, sampler, η, model)")
        self.captions.setChecked(True)
        self.export_progress = QProgressBar()
        self.export_progress.hide()
        self.export_cancel = QPushButton("Cancel export")
        self.export_cancel.hide()
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
        for label, widget in (("method", self.method), ("steps", self.steps), ("cost", self.nfe_label),
                              ("η (DDIM)", self.eta), ("noise scale", self.noise_scale),
                              ("average N draws", self.average), ("seed", self.seed), ("images", self.count),
                              ("EMA length σ_rel", self.ema_length)):
            form.addRow(label, widget)
        form.addRow(self.clip)
        form.addRow(self.show_eps)
        compare_box = QGroupBox("Compare (same starting noise)")
        form = QFormLayout(compare_box)
        form.addRow(self.compare)
        form.addRow("second sampler", self.method_b)
        form.addRow("second model", self.model_b)
        form.addRow("second η", self.eta_b)
        form.addRow("second class", self.steering.class_b)
        b_row = QHBoxLayout()
        b_row.addWidget(self.steering.guidance_b, 1)
        b_row.addWidget(self.steering.w_label_b)
        form.addRow("second w", b_row)
        self.run_bar = QWidget()  # placed by the view, outside the scrolling column
        bar = QVBoxLayout(self.run_bar)
        bar.setContentsMargins(0, 0, 0, 0)
        run_row = QHBoxLayout()
        run_row.addWidget(self.sample_button)
        run_row.addWidget(self.cancel_button)
        bar.addLayout(run_row)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.eta_label)
        bar.addLayout(progress_row)
        bar.addWidget(self.status)
        # the bar keeps its height while the progress bar comes and goes and the status wraps (old #29)
        for widget in (self.progress, self.eta_label):
            policy = widget.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            widget.setSizePolicy(policy)
        self.status.setFixedHeight(2 * self.status.fontMetrics().lineSpacing() + 4)
        export_box = QGroupBox("Export")
        form = QFormLayout(export_box)
        form.addRow("scale", self.scale)
        form.addRow(self.captions)
        form.addRow(self.png_button)
        form.addRow(self.gif_button)
        form.addRow("strip of", self.strip_source)
        form.addRow(self.strip_steps)
        form.addRow(self.strip_button)
        export_progress = QHBoxLayout()
        export_progress.addWidget(self.export_progress, 1)
        export_progress.addWidget(self.export_cancel)
        form.addRow(export_progress)
        left = QVBoxLayout(self)
        for w in (model_box, sampler_box, self.steering, compare_box, export_box):
            left.addWidget(w)
        left.addStretch(1)

    # -- models ---------------------------------------------------------------------------------
    def set_models(self, choices: list[tuple[str, Path]], default: Path | None = None) -> None:
        """Refill both model lists with (label, path), keeping the selection when it is still offered; else
        the first list selects `default` (the catalogue's best model) and the second another model."""
        for combo in (self.model_combo, self.model_b):
            keep = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for label, path in choices:
                combo.addItem(label, str(path))
            index = combo.findData(keep)
            if index < 0 and combo is self.model_combo and default is not None:
                index = combo.findData(str(default))
            if index < 0 and combo is self.model_b:
                first = self.model_combo.currentIndex()
                index = next((i for i in range(combo.count()) if i != first), 0)
            combo.setCurrentIndex(max(0, index))
            combo.blockSignals(False)
        self.model_combo.currentIndexChanged.emit(self.model_combo.currentIndex())

    def add_model(self, path: Path, label: str | None = None) -> None:
        """Offer a checkpoint file or run folder in both lists and select it in the first."""
        for combo in (self.model_combo, self.model_b):
            if combo.findData(str(path)) < 0:
                combo.addItem(label or path.name, str(path))
        self.model_combo.setCurrentIndex(self.model_combo.findData(str(path)))

    # -- settings -------------------------------------------------------------------------------
    def set_timesteps(self, timesteps: int | None) -> None:
        """T of the chosen model (None when unknown): DDPM's greyed steps field shows it, and the cost uses it."""
        self._timesteps = timesteps
        self.steering.set_timesteps(timesteps)
        self._on_method()

    def export_style(self) -> ExportStyle:
        return ExportStyle(scale=int(self.scale.currentData()), captions=self.captions.isChecked())

    def sampling_config(self) -> SamplingConfig:
        """The first lane's settings, its guidance scale and knobs included (the class goes in its LaneSpec)."""
        return self.steering.steer(self._base_config())

    def _base_config(self) -> SamplingConfig:
        return replace(SamplingConfig(), method=self.method.currentData(), steps=self._steps_choice,
                       eta=self.eta.value(), clip_x0=self.clip.isChecked(), noise_scale=self.noise_scale.value(),
                       seed=self.seed.value(), count=self.count.value())

    def _lane(self, label: str, model: str, cfg: SamplingConfig, average: int, lane_b: bool = False) -> LaneSpec:
        """A lane of `cfg` steered as the steering box says (lane B's own class and w when `lane_b`), its
        label saying how ('tiny · class triangle · w = 2')."""
        s = self.steering
        ema = self.ema_length.value() if model == self.model_combo.currentData() else None
        spec = LaneSpec(label, Path(model), s.steer(cfg, lane_b), average, s.class_name(lane_b), s.guide(),
                        ema_length=ema)
        words = " · ".join(w for w in (steering_words(spec), f"EMA σ_rel {ema:g}" if ema else "") if w)
        return replace(spec, label=f"{label} · {words}" if words else label)

    def lane_specs(self) -> tuple[LaneSpec, ...]:
        """The lanes the current settings ask for (one, or two to compare)."""
        model = self.model_combo.currentData()
        if not model:
            raise ValueError("No model: train one, open a run, or choose a checkpoint file.")
        cfg, n, mode = self._base_config(), self.average.value(), self.compare.currentData()
        name = self.model_combo.currentText()
        if mode == "samplers":
            second = replace(cfg, method=self.method_b.currentData())
            return (self._lane(self._sampler_words(cfg), model, cfg, n),
                    self._lane(self._sampler_words(second), model, second, n))
        if mode == "checkpoints":
            other = self.model_b.currentData()
            if not other:
                raise ValueError("Choose the second model to compare with.")
            return (self._lane(name, model, cfg, n), self._lane(self.model_b.currentText(), other, cfg, n))
        if mode == "eta":
            a, b = replace(cfg, method="ddim"), replace(cfg, method="ddim", eta=self.eta_b.value())
            return (self._lane(f"DDIM η = {a.eta:g}", model, a, n), self._lane(f"DDIM η = {b.eta:g}", model, b, n))
        if mode == "guidance":
            if not (self.steering.guiding() or self.steering.guiding(lane_b=True)):
                raise ValueError("Two guidance scales need a class (of a class-conditional model) or a guide model.")
            return (self._lane(name, model, cfg, n), self._lane(name, model, cfg, n, lane_b=True))
        return (self._lane(name, model, cfg, n),)

    def _sampler_words(self, cfg: SamplingConfig) -> str:
        """'DDIM, 50 steps, η = 0' / 'DDPM' (all T steps): a lane's label in a comparison of samplers."""
        if cfg.method == "ddpm":
            return SAMPLERS.label("ddpm")
        eta = f", η = {cfg.eta:g}" if cfg.method == "ddim" else ""
        return f"{SAMPLERS.label(cfg.method)}, {cfg.steps} steps{eta}"

    # -- state ----------------------------------------------------------------------------------
    def set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #b00020;" if error else "")

    def update_buttons(self, *, has_frames: bool, busy: bool = False, exporting: bool = False) -> None:
        """Sample needs a model; Cancel needs a run in progress; the exports need frames and no other export."""
        self.sample_button.setEnabled(self.model_combo.count() > 0)
        self.cancel_button.setEnabled(busy)
        for b in (self.png_button, self.gif_button, self.strip_button):
            b.setEnabled(has_frames and not exporting)
        self.export_progress.setVisible(exporting)
        self.export_cancel.setVisible(exporting)

    def _on_method(self, *_args) -> None:
        method, mode = self.method.currentData(), self.compare.currentData()
        row = SAMPLERS.get(method)
        ddpm_only = row is not None and row.fixed_length and mode in ("none", "checkpoints")  # DDPM: all T
        self.steps.setEnabled(not ddpm_only)
        self.steps.blockSignals(True)
        if ddpm_only and self._timesteps is not None:
            self.steps.setValue(self._timesteps)  # DDPM runs all T steps: show T, greyed
        elif not ddpm_only:
            self.steps.setValue(self._steps_choice)
        self.steps.blockSignals(False)
        if mode == "eta" and method != "ddim":  # η is DDIM's: say so in the method box, never switch silently
            self.method.setCurrentIndex(self.method.findData("ddim"))
            return  # _on_method runs again for the new method
        self.method.setEnabled(mode != "eta")
        self.method.setToolTip("Two η values compare DDIM samples" if mode == "eta" else "")
        second = self.method_b.currentData() if mode == "samplers" else None
        uses_eta = [name for name in (method, second) if name in SAMPLERS and "eta" in SAMPLERS[name].options]
        self.eta.setEnabled(bool(uses_eta) or mode == "eta")
        self.method_b.setEnabled(mode == "samplers")
        self.model_b.setEnabled(mode == "checkpoints")
        self.eta_b.setEnabled(mode == "eta")
        self.steering.set_compare_b(mode == "guidance")  # -> _show_cost

    def _on_steps(self, value: int) -> None:
        if self.steps.isEnabled():
            self._steps_choice = value
        self._show_cost()

    def _show_cost(self) -> None:
        """'50 NFE' for the chosen method and steps on the chosen model's T ('—' while T is unknown), and
        '× 2 (guidance batch)' when guidance doubles the batch of each evaluation (never the steps)."""
        method, steps, T = self.method.currentData(), self._steps_choice, self._timesteps
        doubled = self.guidance_note()
        if self.compare.currentData() == "samplers" and T is not None:
            second = self.method_b.currentData()
            try:
                self.nfe_label.setText(f"{nfe(method, steps, T)} + {nfe(second, steps, T)} NFE{doubled} "
                                       f"({SAMPLERS.label(method)} + {SAMPLERS.label(second)})")
            except ValueError as exc:
                self.nfe_label.setText(str(exc))
            return
        try:
            self.nfe_label.setText(f"{nfe(method, steps, T)} network evaluations (NFE){doubled}"
                                   f"{self._time_estimate(nfe(method, steps, T), 2 if doubled else 1)}" if T else "—")
        except ValueError as exc:
            self.nfe_label.setText(str(exc))

    def set_eval_cost(self, cost: EvalCost | None) -> None:
        """The chosen model's measured evaluation (`app.sampling_cost`; None: not measured, a small model)."""
        self._eval_cost = cost
        self._show_cost()

    def _time_estimate(self, evaluations: int, batch_factor: int) -> str:
        """' · about 40 min for 16 images' once the model was measured ('' before), in red when it is long."""
        if self._eval_cost is None:
            return ""
        images = self.count.value() * self.steering.row_count()
        seconds = estimate_seconds(self._eval_cost, images, evaluations, batch_factor)
        long = seconds > WARN_SECONDS
        self.nfe_label.setStyleSheet("color: #b00020;" if long else "")
        self.nfe_label.setToolTip(NFE_HELP + (f"\n{cost_warning(self._eval_cost, images, evaluations, batch_factor)}"
                                              if long else ""))
        return f" · about {format_seconds(seconds)} for {images} image(s) on the {self._eval_cost.device.upper()}"

    def guidance_note(self) -> str:
        """' × 2 (guidance batch)' (classifier-free: a conditional and an unconditional prediction per image), ' × 2
        (guide network)' (autoguidance), with 'lane A' / 'lane B' when only one lane of a comparison guides; ''
        when nothing doubles (no steering, or w = 0 or 1: one plain prediction, `SamplingConfig.batch_factor`)."""
        s, b_on = self.steering, self.compare.currentData() == "guidance"
        what = "guide network" if s.guide() is not None else "guidance batch"

        def doubles(lane_b: bool) -> bool:
            cfg = replace(s.steer(self._base_config(), lane_b), labels=(0,) if s.class_name(lane_b) else ())
            return cfg.batch_factor(guide=s.guide() is not None) == 2

        a, b = doubles(False), b_on and doubles(True)
        if a and (b or not b_on):
            return f" × 2 ({what})"
        if a or b:
            return f" × 2 on lane {'A' if a else 'B'} ({what})"
        return ""
