"""The training configuration form: every field of a `RunConfig` a person chooses before Start.

Every default is the config dataclasses' default (the CLI's flags read the same ones), and every choice list
is the one the configs validate against; this form only adds the words shown for each choice. `problem()`
explains an invalid combination in one line before Start (the panel disables Start and shows it);
`run_config()` builds the typed config the Trainer takes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.data_proposal import DataProfile, propose_data_shape
from ddpm_studio.data.config import CHANNELS, DataConfig
from ddpm_studio.engine import SCHEDULE_NAMES, UNET_PRESETS, DiffusionConfig, UNetConfig
from ddpm_studio.engine.config import OBJECTIVES
from ddpm_studio.engine.losses import LOSS_NAMES
from ddpm_studio.engine.unet_config import BLOCK_TYPES, DEFAULT_PRESET, PRESET_FREE_FIELDS, preset_of
from ddpm_studio.training.config import (
    AUGMENT_MODES,
    AUTO_AUGMENT_BELOW,
    AUTO_RECIPE_MIN_STEPS,
    LR_SCHEDULES,
    MIXED_PRECISION_MODES,
    SMALL_SET_EMA_SIGMA_REL,
    RunConfig,
    TrainingConfig,
)
from ddpm_studio.training.devices import DEVICE_CHOICES, bf16_supported, cuda_available
from ddpm_studio.training.tensorboard_log import INSTALL_HINT, default_tensorboard_dir, tensorboard_available

IMAGE_SIZES = (8, 16, 32, 64, 128, 256)
# The words shown for the choices of the configs' lists (a choice without words shows its name).
LABELS = {"eps": "ε (noise)", "x0": "x₀ (clean image)", "v": "v (velocity)", "l2": "L2 (MSE)", "l1": "L1",
          "huber": "Huber", "cosine": "cosine decay", "resnet": "ResNet (scale-shift)", "convnext": "ConvNeXt",
          "cpu": "CPU", "cuda": "CUDA", "no": "off (float32)", 3: "RGB", 1: "Grayscale"}
CUSTOM = "custom"
# "train for" keeps one number per unit; a unit not used yet starts here (issue 22 N7: 2000 steps became 2000
# minutes). Steps start at TrainingConfig's own default; the CLI has no unit switch, so these are the GUI's.
FIRST_LENGTH = {"epochs": 10, "minutes": 10}
LENGTH_SUFFIX = {"steps": " steps", "epochs": " epochs", "minutes": " min"}


def _combo(choices, current, labels: dict | None = None) -> QComboBox:
    """A combo box over a config's choice list, showing LABELS' words, with `current` selected."""
    labels = LABELS if labels is None else labels
    box = QComboBox()
    for choice in choices:
        box.addItem(labels.get(choice, str(choice)), choice)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box


def _set_combo(box: QComboBox, data) -> None:
    index = box.findData(data)
    if index >= 0:
        box.setCurrentIndex(index)


class TrainingForm(QWidget):
    """Editable RunConfig. Emits `changed` on any edit; `problem()` is None when Start may proceed."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._custom_model: UNetConfig | None = None  # a reopened run's model that matches no preset
        self._shaped_for = ""  # the dataset whose size and channels the form shows (see apply_data_profile)
        d, tr, diff, preset = DataConfig(), TrainingConfig(), DiffusionConfig(), UNET_PRESETS[DEFAULT_PRESET]
        self.source = QLineEdit(d.source)
        self.source.setPlaceholderText("folder, .zip or builtin:shapes (choose in the Dataset tab)")
        self.image_size = _combo(IMAGE_SIZES, d.image_size, {s: f"{s} × {s}" for s in IMAGE_SIZES})
        self.channels = _combo(sorted(CHANNELS, reverse=True), d.channels)
        self.hflip = QCheckBox("random horizontal flip")
        self.hflip.setChecked(d.hflip)
        self.augment = _combo(AUGMENT_MODES, tr.augment,
                              {"auto": "auto (small sets, long runs)"})  # the tooltip says how small and long
        self.preset = _combo(tuple(UNET_PRESETS), DEFAULT_PRESET)
        self.width = QSpinBox()
        self.width.setRange(8, 512)
        self.width.setSingleStep(8)
        self.width.setValue(preset.base_channels)
        self.width.setSuffix(" channels")
        self.block = _combo(BLOCK_TYPES, preset.block)
        self.schedule = _combo(SCHEDULE_NAMES, diff.schedule)
        self.timesteps = QSpinBox()
        self.timesteps.setRange(2, 10000)
        self.timesteps.setValue(diff.timesteps)
        self.loss = _combo(LOSS_NAMES, diff.loss)
        self.objective = _combo(OBJECTIVES, diff.objective)
        self.learned_variance = QCheckBox("learned variance Σθ (hybrid loss)")
        self.learned_variance.setChecked(diff.learned_variance)
        self.batch = QSpinBox()
        self.batch.setRange(1, 4096)
        self.batch.setValue(tr.batch_size)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(tr.lr)
        self.lr_schedule = _combo(LR_SCHEDULES, tr.lr_schedule)
        self.by_steps = QRadioButton("steps")
        self.by_epochs = QRadioButton("epochs")
        self.by_minutes = QRadioButton("minutes")  # a time budget: the Trainer plans the steps (training/budget.py)
        self.by_steps.setChecked(True)
        self.length = QSpinBox()
        self.length.setRange(1, 10_000_000)
        self.length.setValue(tr.max_steps or 1)
        self.length.setSuffix(LENGTH_SUFFIX["steps"])
        self._unit = "steps"
        self._lengths = {"steps": tr.max_steps or 1, **FIRST_LENGTH}  # the last number of each unit
        self.ema = QDoubleSpinBox()
        self.ema.setDecimals(4)
        self.ema.setRange(0.0, 0.9999)
        self.ema.setSingleStep(0.001)
        self.ema.setValue(tr.ema_decay)
        self.posthoc_ema = QCheckBox("keep post-hoc EMA snapshots")
        self.posthoc_ema.setChecked(tr.posthoc_ema)
        self.device = _combo(DEVICE_CHOICES, tr.device)
        self.precision = _combo(MIXED_PRECISION_MODES, tr.mixed_precision)
        self.preview_every = QSpinBox()
        self.preview_every.setRange(0, 1000)
        self.preview_every.setValue(tr.preview_every_epochs)
        self.preview_every.setSpecialValueText(f"auto ({tr.preview_time_share:.0%})")  # 0: ≤ that share of the time
        self.preview_count = QSpinBox()
        self.preview_count.setRange(1, 64)
        self.preview_count.setValue(tr.preview_count)
        self.checkpoint_every = QSpinBox()
        self.checkpoint_every.setRange(1, 10_000_000)
        self.checkpoint_every.setValue(tr.checkpoint_every_steps)
        self.tensorboard = QCheckBox("log to TensorBoard")  # not part of the RunConfig: where else to log it
        self.tensorboard.setEnabled(tensorboard_available())
        self.tensorboard.setToolTip(f"Also write loss, learning rate, quality and previews for TensorBoard in "
                                    f"{default_tensorboard_dir()}/<run name>." if tensorboard_available()
                                    else INSTALL_HINT)
        self._build_layout()
        self._tooltips()
        for box in self.findChildren(QComboBox):
            box.currentIndexChanged.connect(self._on_edit)
        for spin in self.findChildren(QSpinBox) + self.findChildren(QDoubleSpinBox):
            spin.valueChanged.connect(self._on_edit)
        for check in self.findChildren(QCheckBox) + [self.by_steps, self.by_minutes]:
            check.toggled.connect(self._on_edit)
        for unit, button in (("steps", self.by_steps), ("epochs", self.by_epochs), ("minutes", self.by_minutes)):
            button.toggled.connect(lambda checked, unit=unit: checked and self._on_unit(unit))
        self.source.textChanged.connect(self._on_edit)
        self.preset.currentIndexChanged.connect(self._on_preset)
        self._base_training, self._base_data, self._base_diffusion = tr, d, diff

    def _build_layout(self) -> None:
        data, model, diffusion, train = (QGroupBox(t) for t in ("Data", "Model", "Diffusion", "Training"))
        f = QFormLayout(data)
        f.addRow("source", self.source)
        f.addRow("image size", self.image_size)
        f.addRow("channels", self.channels)
        f.addRow("", self.hflip)
        f.addRow("augmentation", self.augment)
        f = QFormLayout(model)
        f.addRow("UNet preset", self.preset)
        f.addRow("width (level 0)", self.width)
        f.addRow("block", self.block)
        f = QFormLayout(diffusion)
        f.addRow("noise schedule", self.schedule)
        f.addRow("timesteps T", self.timesteps)
        f.addRow("objective", self.objective)
        f.addRow("loss", self.loss)
        f.addRow("", self.learned_variance)
        f = QFormLayout(train)
        f.addRow("batch size", self.batch)
        rate = QHBoxLayout()
        rate.addWidget(self.lr, 1)
        rate.addWidget(self.lr_schedule)
        f.addRow("learning rate", rate)
        units = QHBoxLayout()  # below the number: one row of both would widen the tab past 1024 px
        for w in (self.by_steps, self.by_epochs, self.by_minutes):
            units.addWidget(w)
        length = QVBoxLayout()
        length.addWidget(self.length)
        length.addLayout(units)
        f.addRow("train for", length)
        f.addRow("EMA decay", self.ema)
        f.addRow("", self.posthoc_ema)
        f.addRow("device", self.device)
        f.addRow("mixed precision", self.precision)
        f.addRow("preview every (epochs)", self.preview_every)
        f.addRow("preview images", self.preview_count)
        f.addRow("checkpoint every (steps)", self.checkpoint_every)
        f.addRow("", self.tensorboard)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for group in (data, model, diffusion, train):
            layout.addWidget(group)
        layout.addStretch(1)

    def _tooltips(self) -> None:
        share = TrainingConfig().preview_time_share
        self.preview_every.setToolTip(f"Sample a preview grid every N epochs; auto (0) previews as often as keeps "
                                      f"previews within {share:.0%} of the training time, however small the dataset.")
        self.by_minutes.setToolTip("A time budget: the run measures its step rate over the first seconds and "
                                   "plans its steps (warm-up, learning-rate decay) to end in N minutes.")
        self.width.setToolTip("Channels of the first UNet level; deeper levels multiply it (the preset's mults).")
        self.block.setToolTip("ResNet blocks (GroupNorm, SiLU, scale-shift time conditioning) or ConvNeXt blocks "
                              "(7×7 depthwise conv, time embedding added): ConvNeXt has ~1.6× the parameters and "
                              "~3× the FLOPs of the same width, and trains ~25% fewer images/s on a CPU.")
        self.learned_variance.setToolTip("Improved DDPM (Nichol & Dhariwal 2021): the network also predicts "
                                         "the reverse variance, trained with L_simple + λ L_vlb.")
        self.timesteps.setToolTip("T, the number of noising steps; DDPM sampling takes T steps, DDIM fewer.")
        self.objective.setToolTip("What the network predicts: ε (Ho et al.), x₀, or v = √ᾱ ε − √(1−ᾱ) x₀.")
        self.lr_schedule.setToolTip(f"After the warm-up: keep the learning rate, or lower it along a cosine to "
                                    f"{TrainingConfig().lr_min_ratio:.0%} of it by the last step.")
        self.ema.setToolTip("Exponential moving average of the weights, used for previews and sampling.")
        self.posthoc_ema.setToolTip("EDM2's post-hoc EMA (Karras et al. 2024): keep two power-function EMA profiles "
                                    "and up to 64 snapshots in the run, so the Sampler and `sample --ema-length` "
                                    "can choose the EMA length after training (~0.3 GB, ~7 % of the time).")
        self.precision.setToolTip("Autocast on CUDA only; the CPU always trains in float32.")
        self.augment.setToolTip(f"Non-leaky augmentation (Karras et al. 2022): flips, 90° turns, shifts, zoom, "
                                f"brightness, contrast and saturation, each with probability "
                                f"{TrainingConfig().augment_p:g}, told to the network, which samples un-augmented "
                                f"images. Helps small sets; the Dataset tab shows what it does. 'auto' is the "
                                f"small-set recipe: below {AUTO_AUGMENT_BELOW:,} images and for a run of "
                                f"{AUTO_RECIPE_MIN_STEPS:,} steps or more, on, with a longer EMA (σ_rel "
                                f"{SMALL_SET_EMA_SIGMA_REL:g}) unless the EMA decay is changed; shorter runs train "
                                f"better without it. A time budget decides when it has planned its steps, a few "
                                f"seconds in; config.json records the outcome.")
        self.source.setToolTip("The dataset chosen in the Dataset tab; you can also type a folder or builtin:glyphs.")

    # -- reading -----------------------------------------------------------------------------------
    def _model_config(self) -> UNetConfig:
        name = self.preset.currentData()
        base = self._custom_model if name == CUSTOM and self._custom_model else UNET_PRESETS.get(name, UNetConfig())
        channels = self.channels.currentData()
        learned = self.learned_variance.isChecked()
        return replace(base, base_channels=self.width.value(), in_channels=channels, learned_variance=learned,
                       block=self.block.currentData(), augment_dim=0)  # the Trainer sets it from "augmentation"

    def run_config(self) -> RunConfig:
        """The RunConfig the form shows (not validated: see `problem`)."""
        data = replace(self._base_data, source=self.source.text().strip(), image_size=self.image_size.currentData(),
                       channels=self.channels.currentData(), hflip=self.hflip.isChecked())
        diffusion = replace(self._base_diffusion, schedule=self.schedule.currentData(),
                            timesteps=self.timesteps.value(), objective=self.objective.currentData(),
                            loss=self.loss.currentData(), learned_variance=self.learned_variance.isChecked())
        max_steps, epochs, max_minutes = self.length_choice()
        device = self.device.currentData()
        training = replace(self._base_training, batch_size=self.batch.value(), lr=self.lr.value(),
                           lr_schedule=self.lr_schedule.currentData(),
                           ema_decay=self.ema.value(), posthoc_ema=self.posthoc_ema.isChecked(), device=device,
                           mixed_precision=self.precision.currentData(),
                           max_steps=max_steps, epochs=epochs, max_minutes=max_minutes, planned_steps=None,
                           preview_every_epochs=self.preview_every.value(),
                           preview_count=self.preview_count.value(),
                           checkpoint_every_steps=self.checkpoint_every.value(),
                           augment=self.augment.currentData(),
                           validation_images=None)  # a new run's held-out split follows its own data
        return RunConfig(model=self._model_config(), diffusion=diffusion, data=data, training=training)

    def tensorboard_dir(self) -> Path | None:
        """Where the job also logs for TensorBoard (the box is ticked), else None."""
        return default_tensorboard_dir() if self.tensorboard.isChecked() else None

    def length_choice(self) -> tuple[int | None, int | None, float | None]:
        """(max_steps, epochs, max_minutes) of "train for": exactly one is set."""
        value = self.length.value()
        if self.by_minutes.isChecked():
            return None, None, float(value)
        if self.by_epochs.isChecked():
            return None, value, None
        return value, None, None

    def problem(self) -> str | None:
        """One line saying why this configuration cannot start, or None."""
        if not self.source.text().strip():
            return "Choose a dataset first (Dataset tab), or type a folder, a .zip or builtin:shapes."
        device, precision = self.device.currentData(), self.precision.currentData()
        if device == "cuda" and not cuda_available():
            return "CUDA is not available on this machine: choose 'auto' or 'CPU'."
        if precision in ("bf16", "fp16") and (device == "cpu" or not cuda_available()):
            return f"{precision} mixed precision needs a CUDA device; set mixed precision to 'off' or 'auto'."
        if precision == "bf16" and not bf16_supported():
            return "This GPU does not support bf16; choose fp16 or 'auto'."
        if self.learned_variance.isChecked() and self.timesteps.value() < 2:
            return "A learned variance needs T of at least 2."
        warmup = self._base_training.warmup_steps
        if self.lr_schedule.currentData() == "cosine" and self.by_steps.isChecked() and self.length.value() <= warmup:
            return (f"Cosine decay starts after the {warmup} warm-up steps: train for more steps, "
                    "or choose a constant learning rate.")
        try:
            config = self.run_config()
            config.validate()
        except ValueError as exc:
            message = str(exc)
            if "norm_groups" in message:
                return f"Width {self.width.value()} is not divisible by the GroupNorm groups: use a multiple of 8."
            return message[:1].upper() + message[1:]
        size, multiple = config.data.image_size, config.model.size_multiple
        if size // multiple < 2:
            preset = self.preset.currentData()
            return f"Image size {size} is too small for the '{preset}' preset (needs ≥ {2 * multiple})."
        return None

    # -- writing -----------------------------------------------------------------------------------
    def set_source(self, spec: str) -> None:
        """The dataset chosen in the browser."""
        if spec and spec != self.source.text():
            self.source.setText(spec)

    def apply_data_profile(self, profile: DataProfile) -> None:
        """Defaults that follow the data (AppState.data_profile_changed): the size, channels and flip proposed for
        the current preset. Ignored for the dataset the shown values were already chosen for (a reopened run's, or
        the last launch's remembered form), so a person's own choice is not overwritten by reopening it."""
        if not profile.source or profile.source == self._shaped_for:
            return
        self._shaped_for = profile.source
        shape = propose_data_shape(profile, self.preset.currentData(), IMAGE_SIZES)
        _set_combo(self.image_size, shape.image_size)
        _set_combo(self.channels, shape.channels)
        self.hflip.setChecked(shape.hflip)
        self.image_size.setToolTip(f"Proposed {shape.reason}")
        self.hflip.setToolTip(f"Proposed {shape.reason}")

    def set_run_config(self, config: RunConfig) -> None:
        """Show a reopened run's configuration (to read it, or to start a similar run)."""
        self._shaped_for = config.data.source
        self.blockSignals(True)
        try:
            m = config.model
            # a conditional model reopens as custom, so the form keeps its classes
            preset = preset_of(m, tuple(f for f in PRESET_FREE_FIELDS if f != "num_classes"))
            if preset is None:
                self._custom_model = m
                if self.preset.findData(CUSTOM) < 0:
                    self.preset.addItem("custom (from run)", CUSTOM)
                preset = CUSTOM
            _set_combo(self.preset, preset)
            self.width.setValue(m.base_channels)
            _set_combo(self.block, m.block)
            self.source.setText(config.data.source)
            self._base_data, self._base_diffusion = config.data, config.diffusion
            _set_combo(self.image_size, config.data.image_size)
            _set_combo(self.channels, config.data.channels)
            self.hflip.setChecked(config.data.hflip)
            _set_combo(self.augment, config.training.augment)
            dc = config.diffusion
            _set_combo(self.schedule, dc.schedule)
            self.timesteps.setValue(dc.timesteps)
            _set_combo(self.objective, dc.objective)
            _set_combo(self.loss, dc.loss)
            self.learned_variance.setChecked(dc.learned_variance)
            tc = config.training
            self._base_training = tc
            self.batch.setValue(tc.batch_size)
            self.lr.setValue(tc.lr)
            _set_combo(self.lr_schedule, tc.lr_schedule)
            if tc.max_minutes is not None:
                self.by_minutes.setChecked(True)
                self.length.setValue(max(1, round(tc.max_minutes)))
            else:
                self.by_steps.setChecked(tc.max_steps is not None)
                self.by_epochs.setChecked(tc.max_steps is None)
                self.length.setValue(tc.max_steps if tc.max_steps is not None else (tc.epochs or 1))
            self.ema.setValue(tc.ema_decay)
            self.posthoc_ema.setChecked(tc.posthoc_ema)
            _set_combo(self.device, "cuda" if tc.device.startswith("cuda") else tc.device)
            _set_combo(self.precision, tc.mixed_precision)
            self.preview_every.setValue(tc.preview_every_epochs)
            self.preview_count.setValue(tc.preview_count)
            self.checkpoint_every.setValue(tc.checkpoint_every_steps)
        finally:
            self.blockSignals(False)
        self.changed.emit()

    def _on_unit(self, unit: str) -> None:
        """Another "train for" unit: keep the old unit's number, show the new unit's last (or first) number."""
        if unit == self._unit:
            return
        self._lengths[self._unit] = self.length.value()
        self._unit = unit
        self.length.setSuffix(LENGTH_SUFFIX[unit])
        self.length.setValue(self._lengths[unit])

    def _on_preset(self) -> None:
        name = self.preset.currentData()
        if name in UNET_PRESETS:
            self.width.setValue(UNET_PRESETS[name].base_channels)
            _set_combo(self.block, UNET_PRESETS[name].block)

    def _on_edit(self, *_args) -> None:
        self.precision.setEnabled(self.device.currentData() != "cpu" and cuda_available())
        self.changed.emit()
