"""The Sampler's "EMA length σ_rel" control (EDM2 post-hoc EMA, `app.posthoc`): a check box and a slider in one row.

Enabled only for a run trained with post-hoc EMA snapshots, over the σ_rel range its snapshots can reconstruct
(`app.posthoc.posthoc_range`, given by the view); unticked, or for any other model, sampling uses the checkpoint's
own EMA. `value()` is the σ_rel a lane asks for, or None.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QWidget

from ddpm_studio.app.posthoc import SIGMA_REL_BOUNDS

STEP = 0.005  # the slider moves in steps of 0.005 in σ_rel
DEFAULT = 0.10  # EDM2's longer stored profile: exact, and where the slider starts
TIP = ("Post-hoc EMA (Karras et al. 2024): the run kept two EMA profiles during training, so the weights can be "
       "averaged over any relative length σ_rel after it. Short (0.02) follows the last weights; long (0.2) "
       "averages a fifth of the run. `ddpm-studio ema-sweep RUN` scores several lengths.")
OFF_TIP = ("This model has no post-hoc EMA snapshots: train a run with post-hoc EMA on (--posthoc-ema) to choose "
           "its EMA length after training.")


class EmaLengthControl(QWidget):
    """[x] post-hoc  ——o——  0.100"""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.enabled_box = QCheckBox("post-hoc")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(round(SIGMA_REL_BOUNDS[0] / STEP), round(SIGMA_REL_BOUNDS[1] / STEP))
        self.slider.setValue(round(DEFAULT / STEP))
        self.value_label = QLabel()
        self.value_label.setMinimumWidth(self.value_label.fontMetrics().horizontalAdvance("0.000") + 4)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.enabled_box)
        row.addWidget(self.slider, 1)
        row.addWidget(self.value_label)
        self.slider.valueChanged.connect(self._show)
        self.enabled_box.toggled.connect(self._show)
        self.set_range(None)

    def set_range(self, span: tuple[float, float] | None) -> None:
        """The reconstructable σ_rel range of the chosen model, or None (no snapshots: greyed, unticked)."""
        has = span is not None
        self.enabled_box.setEnabled(has)
        if not has:
            self.enabled_box.setChecked(False)
        else:
            low, high = round(span[0] / STEP + 0.4999), int(span[1] / STEP)  # inside the range, on the grid
            keep = self.slider.value()
            self.slider.setRange(low, max(low, high))
            self.slider.setValue(min(max(keep, low), max(low, high)))
        self.setToolTip(TIP if has else OFF_TIP)
        self._show()

    def value(self) -> float | None:
        """The σ_rel asked for, or None (the checkpoint's own EMA)."""
        if not (self.enabled_box.isEnabled() and self.enabled_box.isChecked()):
            return None
        return round(self.slider.value() * STEP, 6)

    def _show(self, *_args) -> None:
        on = self.value() is not None
        self.slider.setEnabled(on)
        self.value_label.setText(f"{self.slider.value() * STEP:.3f}" if on else "off")
