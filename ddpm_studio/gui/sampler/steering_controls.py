"""The Sampler's steering box (issue 20): a class, the guidance scale w, its advanced knobs, a guide model.

- **Class**: "no class (unconditional)", each class of a class-conditional model by name, or "all classes"
  (one row per class from the same noise, `app.sampling.ALL_CLASSES`). Greyed, with a tooltip saying why, for
  a model trained without classes.
- **Guidance scale w** as a slider (0 … 8 in steps of 0.25) with its value: classifier-free guidance towards the
  class (Ho & Salimans 2022; w = 1 the plain conditional model, w = 0 the unconditional one), or, with a guide
  model, autoguidance away from it (Karras et al. 2024). Enabled only when it means something: a class or a
  guide is chosen. The guidance interval (Kynkäänniemi et al. 2024) and CFG-rescale (Lin et al. 2024) sit in
  one compact row; they shape classifier-free guidance only.
- **Guide model**: "none", then the weaker models `app.guides.guide_choices` offers (the run's earlier
  checkpoints, other runs on the same data), or a checkpoint file.

The B widgets (`class_b`, `guidance_b`) are lane B's own class and w in the "two guidance scales" comparison;
the compare box places them. `steer(cfg)` writes the choices into a `SamplingConfig`; the view fills the lists.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from ddpm_studio.app.sampling import ALL_CLASSES
from ddpm_studio.engine import SamplingConfig

W_MAX = 8.0
W_STEP = 0.25  # the slider moves in quarters: w = value · W_STEP
DEFAULT_W = 2.0  # issue 20's reference scale (class faithfulness is measured at w = 2)
DEFAULT_W_B = 1.0  # lane B starts at the plain conditional model: "w = 2 vs w = 1" from the same noise
NO_CLASS = "no class (unconditional)"
EVERY_CLASS = "all classes (a row each)"
UNCONDITIONAL_TIP = ("This model was trained without classes: there is nothing to ask for. Train on a labelled "
                     "set (images in class sub-folders, labels.csv, or a built-in set) to choose a class.")
CLASS_TIP = ("Ask the model for one class, or for all of them: one row per class, every row from the same "
             "starting noise, so the rows differ by class alone.")
W_TIP = ("Guidance scale w. Classifier-free guidance: eps = eps(no class) + w · (eps(class) - eps(no class)); "
         "w = 1 is the plain conditional model, w = 0 the unconditional one, w > 1 typical-but-alike samples. "
         "With a guide model: autoguidance, D = D_guide + w · (D_model - D_guide). Guiding doubles the batch "
         "(two predictions per step), not the number of steps.")
W_OFF_TIP = "Choose a class or a guide model first: the guidance scale has nothing to guide."
GUIDE_TIP = ("Autoguidance (Karras et al. 2024): guide the model away from a weaker one of the same shape and "
             "data, such as an earlier checkpoint of its run or another run on the same data.")
INTERVAL_TIP = ("Guide only for t_lo ≤ t ≤ t_hi (Kynkäänniemi et al. 2024); elsewhere the plain conditional "
                "model. Classifier-free guidance only.")
RESCALE_TIP = ("CFG-rescale φ (Lin et al. 2024): pulls the guided prediction's spread back towards the "
               "conditional one, against the over-saturation of large w. 0 = off. Classifier-free guidance only.")


def w_of(slider: QSlider) -> float:
    """The guidance scale a slider shows."""
    return slider.value() * W_STEP


def _w_slider(value: float) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, round(W_MAX / W_STEP))
    slider.setPageStep(round(1 / W_STEP))
    slider.setValue(round(value / W_STEP))
    slider.setToolTip(W_TIP)
    return slider


class SteeringControls(QGroupBox):
    """Class, guidance scale (with interval and CFG-rescale) and guide model, for lane A and lane B."""

    changed = Signal()  # any steering choice changed (the cost line follows)
    guide_changed = Signal()  # the guide model changed (the view checks that it fits)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Steering (class, guidance)", parent)
        self._classes: tuple[str, ...] = ()
        self._compare_b = False  # lane B's own class and w are in use
        self.class_combo, self.class_b = QComboBox(), QComboBox()
        self.guidance, self.guidance_b = _w_slider(DEFAULT_W), _w_slider(DEFAULT_W_B)
        self.w_label, self.w_label_b = QLabel(), QLabel()
        for label in (self.w_label, self.w_label_b):
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance("w = 8.00") + 4)
        self.interval_check = QCheckBox("only t in")
        self.interval_check.setToolTip(INTERVAL_TIP)
        self.t_lo, self.t_hi = QSpinBox(), QSpinBox()
        for box, value in ((self.t_lo, 0), (self.t_hi, 1000)):
            box.setRange(0, 100_000)
            box.setValue(value)
            box.setToolTip(INTERVAL_TIP)
        self.rescale = QSlider(Qt.Orientation.Horizontal)
        self.rescale.setRange(0, 20)  # φ in steps of 0.05
        self.rescale.setToolTip(RESCALE_TIP)
        self.rescale_label = QLabel()
        self.guide_combo = QComboBox()
        self.guide_combo.setToolTip(GUIDE_TIP)
        self.guide_browse = QPushButton("file…")
        self.guide_browse.setToolTip("A checkpoint file to guide with (the same shape and data as the model)")
        self._build_layout()
        for combo in (self.class_combo, self.class_b):
            combo.currentIndexChanged.connect(self._update)
        for widget in (self.guidance, self.guidance_b, self.rescale):
            widget.valueChanged.connect(self._update)
        self.interval_check.toggled.connect(self._update)
        self.guide_combo.currentIndexChanged.connect(self._on_guide)
        self.set_classes(())
        self.set_guides([])

    def _build_layout(self) -> None:
        form = QFormLayout(self)
        form.addRow("class", self.class_combo)
        form.addRow("guidance w", _row(self.guidance, self.w_label))
        advanced = QHBoxLayout()
        for widget in (self.interval_check, self.t_lo, QLabel("…"), self.t_hi):
            advanced.addWidget(widget)
        form.addRow("interval", _row(advanced))
        form.addRow("CFG-rescale", _row(self.rescale, self.rescale_label))
        form.addRow("guide model", _row(self.guide_combo, self.guide_browse, stretch_first=True))

    # -- choices --------------------------------------------------------------------------------
    def set_classes(self, classes: tuple[str, ...]) -> None:
        """Offer the classes of the chosen model (() for an unconditional one: greyed, the tooltip says why),
        keeping a chosen class when the new model has it."""
        self._classes = tuple(classes)
        for combo in (self.class_combo, self.class_b):
            keep = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(NO_CLASS, None)
            for name in self._classes:
                combo.addItem(name, name)
            if self._classes:
                combo.addItem(EVERY_CLASS, ALL_CLASSES)
            combo.setCurrentIndex(max(0, combo.findData(keep)) if keep is not None else 0)
            combo.setEnabled(bool(self._classes))
            combo.setToolTip(CLASS_TIP if self._classes else UNCONDITIONAL_TIP)
            combo.blockSignals(False)
        self._update()

    def classes(self) -> tuple[str, ...]:
        return self._classes

    def set_guides(self, choices: list[tuple[str, Path]]) -> None:
        """Offer (label, path) guide models after "none", keeping the chosen one when it is still offered."""
        keep = self.guide_combo.currentData()
        self.guide_combo.blockSignals(True)
        self.guide_combo.clear()
        self.guide_combo.addItem("none", None)
        for label, path in choices:
            self.guide_combo.addItem(label, str(path))
        self.guide_combo.setCurrentIndex(max(0, self.guide_combo.findData(keep)) if keep is not None else 0)
        self.guide_combo.blockSignals(False)
        self._on_guide()

    def add_guide(self, path: Path, label: str | None = None) -> None:
        """Offer a checkpoint file as the guide and choose it."""
        if self.guide_combo.findData(str(path)) < 0:
            self.guide_combo.addItem(label or f"file {path.name}", str(path))
        self.guide_combo.setCurrentIndex(self.guide_combo.findData(str(path)))

    def class_name(self, lane_b: bool = False) -> str | None:
        """The chosen class (a name, ALL_CLASSES, or None: no class) of lane A, or of lane B."""
        return (self.class_b if lane_b else self.class_combo).currentData()

    def row_count(self) -> int:
        """Rows of images lane A makes per 'images' asked: one per class for "all classes", else 1."""
        return len(self._classes) if self.class_name() == ALL_CLASSES and self._classes else 1

    def guide(self) -> Path | None:
        data = self.guide_combo.currentData()
        return Path(data) if data else None

    def guiding(self, lane_b: bool = False) -> bool:
        """Whether w means something for the lane: a class or a guide model is chosen."""
        return self.class_name(lane_b) is not None or self.guide() is not None

    def w(self, lane_b: bool = False) -> float:
        return w_of(self.guidance_b if lane_b else self.guidance)

    def set_w(self, w: float, lane_b: bool = False) -> None:
        """Move the lane's slider to `w` (to the nearest step of W_STEP, within 0 … W_MAX)."""
        (self.guidance_b if lane_b else self.guidance).setValue(round(w / W_STEP))

    def steer(self, cfg: SamplingConfig, lane_b: bool = False) -> SamplingConfig:
        """`cfg` with the lane's guidance scale and knobs (w = 1, the plain model, when nothing is steered)."""
        if not self.guiding(lane_b):
            return replace(cfg, guidance=1.0, guidance_interval=(), guidance_rescale=0.0)
        cfg_only = self.guide() is None
        interval = (self.t_lo.value(), self.t_hi.value()) if cfg_only and self.interval_check.isChecked() else ()
        return replace(cfg, guidance=self.w(lane_b), guidance_interval=interval,
                       guidance_rescale=self.rescale.value() * 0.05 if cfg_only else 0.0)

    def set_timesteps(self, timesteps: int | None) -> None:
        """T of the chosen model bounds the interval's timesteps (t_hi starts at T - 1)."""
        if timesteps:
            at_max = self.t_hi.value() >= self.t_hi.maximum()
            for box in (self.t_lo, self.t_hi):
                box.setMaximum(timesteps - 1)
            if at_max or self.t_hi.value() == 1000:
                self.t_hi.setValue(timesteps - 1)

    # -- state ----------------------------------------------------------------------------------
    def set_compare_b(self, on: bool) -> None:
        """Lane B's class and w are in use ("two guidance scales" comparison)."""
        self._compare_b = on
        self._update()

    def _on_guide(self, *_args) -> None:
        self._update()
        self.guide_changed.emit()

    def _update(self, *_args) -> None:
        compare_b = self._compare_b
        for slider, label, on in ((self.guidance, self.w_label, self.guiding()),
                                  (self.guidance_b, self.w_label_b, compare_b and self.guiding(True))):
            slider.setEnabled(on)
            slider.setToolTip(W_TIP if on else W_OFF_TIP)
            label.setText(f"w = {w_of(slider):.2f}")
            label.setEnabled(on)
        self.class_b.setEnabled(compare_b and bool(self._classes))
        cfg_on = self.class_name() is not None and self.guide() is None
        for widget in (self.interval_check, self.rescale, self.rescale_label):
            widget.setEnabled(cfg_on)
        for box in (self.t_lo, self.t_hi):
            box.setEnabled(cfg_on and self.interval_check.isChecked())
        self.rescale_label.setText(f"φ = {self.rescale.value() * 0.05:.2f}")
        self.changed.emit()


def _row(*items, stretch_first: bool = False) -> QWidget:
    """Widgets (or one layout) side by side in one form cell."""
    holder = QWidget()
    if len(items) == 1 and isinstance(items[0], QHBoxLayout):
        layout = items[0]
        holder.setLayout(layout)
    else:
        layout = QHBoxLayout(holder)
        for i, widget in enumerate(items):
            layout.addWidget(widget, 1 if i == 0 and (stretch_first or isinstance(widget, QSlider)) else 0)
    layout.setContentsMargins(0, 0, 0, 0)
    return holder
