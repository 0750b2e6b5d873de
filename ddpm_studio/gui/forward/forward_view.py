"""The forward-noising timeline: x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε (Ho et al. 2020, eq. 4) under a slider.

Each selected image gets one fixed ε (drawn from a seeded generator keyed by its index), so scrubbing is
smooth and deterministic. The slider runs over the paper's t = 0…T: t = 0 is x_0 itself and t ≥ 1 uses
schedule index t-1 (index 0 is the paper's t = 1). Beside the live images: a grid of images × a spread of t
(the DDPM write-up's figure) and the schedule's curves ᾱ_t, √ᾱ_t, √(1-ᾱ_t) and log SNR (pyqtgraph) with a
marker at the current t. A second schedule can be compared on the same x_0 and ε.

The parts: `app.forward.ForwardNoiser` (x_0 and ε, Qt-free, shared with the CLI's `noise`), `load_images`
(x_0 off the GUI thread), `render_figure` (the images × t figure) and `ScheduleCurves`; this view holds the
controls and live tiles.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFont, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.data_proposal import DataProfile, propose_data_shape
from ddpm_studio.app.forward import ForwardNoiser, spread_of_t
from ddpm_studio.data.transforms import to_uint8
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.schedules import SCHEDULE_NAMES, NoiseSchedule, make_schedule
from ddpm_studio.gui.forward.forward_figure import render_figure
from ddpm_studio.gui.forward.forward_loader import load_images
from ddpm_studio.gui.forward.schedule_curves import ScheduleCurves
from ddpm_studio.gui.jobs.pool_jobs import PoolJobs
from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.widgets.image_utils import ImageTile, qimage_to_array, to_qimage_rgb32
from ddpm_studio.gui.widgets.play_button import PlayPauseButton
from ddpm_studio.gui.widgets.range_spin_box import RangeSpinBox

MAX_IMAGES = 4  # selected images shown at once
TILE = 144  # on-screen size of one live image (px)
PLAY_INTERVAL_MS = 33  # ~30 frames per second
SIZES = (8, 16, 32, 64, 128)  # x_0 resolutions; the opened dataset's proposal picks one (a 16 px folder: 16)
DEFAULT_SIZE = 64
T_MESSAGE_MS = 8000  # how long "T must be between ..." stays up unless T is typed again first
CHANNEL_CHOICES = ((3, "RGB"), (1, "grey"))  # grey data gets grey noise: ε has the channels of x_0


class ForwardView(QWidget):
    """Slider + live x_t images, the images × t grid, and the schedule curves."""

    images_ready = Signal()  # new x_0 batch prepared and shown
    frame_shown = Signal(int)  # t of the frame just drawn

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.noiser = ForwardNoiser()
        self.indices: list[int] = []
        self._schedules: dict[tuple[str, int], NoiseSchedule] = {}
        self._loader = PoolJobs(self)  # the newest selection wins: an older load's answer is dropped
        self._loader.answered.connect(self._on_loaded)
        self._timer = QTimer(self)
        self._timer.setInterval(PLAY_INTERVAL_MS)
        self._timer.timeout.connect(self._advance)
        self._build_controls()
        self._build_layout()
        self.curves = ScheduleCurves(self)
        self._splitter.addWidget(self.curves)
        self._splitter.setStretchFactor(0, 3)
        self._splitter.setStretchFactor(1, 2)
        state.selection_changed.connect(self._reload)
        state.source_changed.connect(lambda _source: self._reload())
        state.data_profile_changed.connect(self._on_data_profile)
        self._on_schedule_changed()
        self._reload()

    # -- construction --------------------------------------------------------------------------
    def _build_controls(self) -> None:
        def named(widget, name: str, tip: str):
            widget.setAccessibleName(name)
            widget.setToolTip(tip)
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            return widget

        self.schedule_combo = named(QComboBox(), "Noise schedule",
                                    "β_t schedule (Ho et al.: linear; Nichol & Dhariwal: cosine)")
        self.schedule_combo.addItems(list(SCHEDULE_NAMES))
        self.schedule_combo.setCurrentText(DiffusionConfig().schedule)
        self.timesteps_spin = named(RangeSpinBox("T"), "Number of timesteps T", "T, the number of diffusion steps")
        self.timesteps_spin.setRange(10, 4000)
        self.timesteps_spin.setSingleStep(50)
        self.timesteps_spin.setValue(DiffusionConfig().timesteps)
        self.compare_check = named(QCheckBox("Compare with"), "Compare with a second schedule",
                                   "Show a second schedule on the same images and the same ε")
        self.compare_combo = named(QComboBox(), "Second schedule", "The schedule to compare with")
        self.compare_combo.addItems(list(SCHEDULE_NAMES))
        self.compare_combo.setCurrentText(_other_schedule(self.schedule_combo.currentText()))
        self.compare_combo.setEnabled(False)
        self.t_range_label = QLabel()  # why a typed T was not used (RangeSpinBox.out_of_range)
        self.t_range_label.setAccessibleName("Timesteps T message")
        self.t_range_label.setStyleSheet("color: #b00020;")
        # at the row's end, after the stretch, never wider than the room left: it pushes no control aside, and it
        # goes when T is typed again, when T changes, or after T_MESSAGE_MS (issue 22 N16: it stayed up)
        self.t_range_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.t_range_label.hide()
        self._t_message_timer = QTimer(self)
        self._t_message_timer.setSingleShot(True)
        self._t_message_timer.setInterval(T_MESSAGE_MS)
        self._t_message_timer.timeout.connect(self.t_range_label.hide)
        self.seed_spin = named(QSpinBox(), "Noise seed", "Seed of the fixed ε of each image")
        self.seed_spin.setRange(0, 2**31 - 1)
        self.size_combo = named(QComboBox(), "Image size", "Resolution x_0 is resized to")
        self.size_combo.addItems([f"{s}×{s}" for s in SIZES])
        self.size_combo.setCurrentIndex(SIZES.index(DEFAULT_SIZE))
        self.channels_combo = named(QComboBox(), "Image channels",
                                    "RGB, or grey (one channel: grey images get grey noise); follows the data")
        for channels, words in CHANNEL_CHOICES:
            self.channels_combo.addItem(words, channels)
        self.play_button = named(PlayPauseButton(), "Play or pause", "Play or pause the timeline (Space)")
        self.slider = named(QSlider(Qt.Orientation.Horizontal), "Timestep t", "t from 0 (the image) to T (noise)")
        self.slider.setPageStep(50)
        self.t_label = QLabel()
        self.t_label.setAccessibleName("Current timestep and coefficients")
        self.t_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.t_label.setFont(_tabular_font(self.t_label.font()))
        widest = self._coefficients_text(make_schedule("linear", 4000), 3999, prefix="cosine  ")
        metrics = self.t_label.fontMetrics()
        # one size for every t and for one or two schedules: scrubbing never re-lays the window out
        self.t_label.setFixedSize(metrics.horizontalAdvance(widest) + 12, 2 * metrics.lineSpacing() + 6)

        self.schedule_combo.currentTextChanged.connect(self._keep_compare_different)
        self.schedule_combo.currentTextChanged.connect(self._on_schedule_changed)
        self.timesteps_spin.valueChanged.connect(self._on_schedule_changed)
        self.timesteps_spin.valueChanged.connect(self.t_range_label.hide)
        self.timesteps_spin.lineEdit().textEdited.connect(self.t_range_label.hide)
        self.timesteps_spin.out_of_range.connect(self._on_t_out_of_range)
        self.compare_check.toggled.connect(self.compare_combo.setEnabled)
        self.compare_check.toggled.connect(self._on_schedule_changed)
        self.compare_combo.currentTextChanged.connect(self._on_schedule_changed)
        self.seed_spin.valueChanged.connect(self._reload)
        self.size_combo.currentIndexChanged.connect(self._reload)
        self.channels_combo.currentIndexChanged.connect(self._reload)
        self.play_button.toggled.connect(self.set_playing)
        self.slider.valueChanged.connect(self._show_frame)

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        for label, widget in (("Schedule", self.schedule_combo), ("T", self.timesteps_spin)):
            caption = QLabel(label)
            caption.setBuddy(widget)
            top.addWidget(caption)
            top.addWidget(widget)
        top.addWidget(self.compare_check)
        top.addWidget(self.compare_combo)
        for label, widget in (("ε seed", self.seed_spin), ("Size", self.size_combo), ("Colour", self.channels_combo)):
            caption = QLabel(label)
            caption.setBuddy(widget)
            top.addWidget(caption)
            top.addWidget(widget)
        top.addStretch(1)
        top.addWidget(self.t_range_label, 1)
        timeline = QHBoxLayout()
        timeline.addWidget(self.play_button)
        timeline.addWidget(self.slider, 1)
        timeline.addWidget(self.t_label)

        self.live_box = QGroupBox("x_t at the current t")
        self.live_grid = QGridLayout(self.live_box)
        self.message = QLabel("Select images in the Dataset tab.")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Forward process message")
        self.live_labels: list[list[ImageTile]] = []  # [schedule row][image column]
        self.grid_label = QLabel()
        self.grid_label.setAccessibleName("Grid of images at a spread of timesteps")
        self.grid_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        grid_scroll = QScrollArea()
        grid_scroll.setWidget(self.grid_label)
        grid_scroll.setWidgetResizable(True)
        grid_scroll.setAccessibleName("Timestep grid")
        grid_box = QGroupBox("Images × t (Ho et al. 2020, Fig. 2 style)")
        QVBoxLayout(grid_box).addWidget(grid_scroll)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.live_box)
        left_layout.addWidget(self.message)
        left_layout.addWidget(grid_box, 1)
        self._splitter = QSplitter(Qt.Orientation.Horizontal)
        self._splitter.setChildrenCollapsible(False)  # the plots never vanish, however narrow the window
        self._splitter.addWidget(left)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(timeline)
        layout.addWidget(self._splitter, 1)

    # -- public API ----------------------------------------------------------------------------
    def schedule(self, second: bool = False) -> NoiseSchedule:
        """The current (or comparison) schedule, float32 on the CPU, cached."""
        name = (self.compare_combo if second else self.schedule_combo).currentText()
        key = (name, self.timesteps_spin.value())
        if key not in self._schedules:
            self._schedules[key] = make_schedule(name, key[1]).to("cpu", torch.float32)
        return self._schedules[key]

    def schedules(self) -> list[NoiseSchedule]:
        """The schedules shown: [main] or [main, comparison]."""
        return [self.schedule()] + ([self.schedule(second=True)] if self.compare_check.isChecked() else [])

    def set_t(self, t: int) -> None:
        """Move the slider to t (draws the frame)."""
        self.slider.setValue(int(t))

    def t(self) -> int:
        return self.slider.value()

    def set_playing(self, playing: bool) -> None:
        """Start or stop the timeline animation."""
        if self.play_button.isChecked() != playing:
            self.play_button.setChecked(playing)  # re-enters through toggled
            return
        if playing:
            self._timer.start()
        else:
            self._timer.stop()

    def displayed_image(self, column: int = 0, row: int = 0) -> np.ndarray:
        """What the live view shows for image `column` under schedule `row`, at data resolution (H,W,3)."""
        return qimage_to_array(self.live_labels[row][column].image())

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop playing and wait for the loader."""
        self.set_playing(False)
        self._loader.shutdown(timeout_s)

    # -- reactions -----------------------------------------------------------------------------
    @Slot()
    def _reload(self, *_args) -> None:
        """(Re)load x_0 for the selected images in the background."""
        self._loader.renew()
        source, indices = self.state.source, list(self.state.selected_indices)[:MAX_IMAGES]
        if source is None or not indices:
            self.indices = []
            self.noiser = ForwardNoiser()
            self._rebuild_live_labels(0)
            self.message.setText("Select one or more images in the Dataset tab to see them noised.")
            self.message.show()
            self.grid_label.clear()
            return
        size = SIZES[self.size_combo.currentIndex()]
        self._loader.submit(partial(load_images, source, indices, size, self.channels_combo.currentData()))

    @Slot(object)
    def _on_loaded(self, answer: tuple) -> None:
        indices, x0, error = answer  # kept indices, (B, C, H, W) x_0 | None, skipped files
        if x0 is None:  # nothing of an earlier selection or dataset stays on screen beside the error
            self.indices = []
            self.noiser = ForwardNoiser()
            self._rebuild_live_labels(0)
            self.grid_label.clear()
            self.message.setText(f"Could not load the selected images: {error}")
            self.message.show()
            return
        self.indices = indices
        self.noiser.set_images(x0, indices, self.seed_spin.value())
        more = len(self.state.selected_indices) - len(indices)
        notes = [f"{more} more selected image(s) not shown (at most {MAX_IMAGES})."] if more > 0 else []
        notes += [f"Skipped: {error}"] if error else []
        self.message.setText(" ".join(notes))
        self.message.setVisible(bool(notes))
        self._rebuild_live_labels(len(indices))
        self._refresh_all()
        self.images_ready.emit()

    @Slot()
    def _on_schedule_changed(self, *_args) -> None:
        timesteps = self.timesteps_spin.value()
        old_max = max(self.slider.maximum(), 1)
        fraction = self.slider.value() / old_max
        self.slider.blockSignals(True)
        self.slider.setRange(0, timesteps)
        self.slider.setValue(int(round(fraction * timesteps)))
        self.slider.blockSignals(False)
        self.curves.plot(self.schedules())
        self._rebuild_live_labels(len(self.indices))
        self._refresh_all()

    def _advance(self) -> None:
        step = max(1, self.slider.maximum() // 150)  # a full sweep in about 5 s
        t = self.slider.value() + step
        self.slider.setValue(0 if t > self.slider.maximum() else t)

    # -- drawing -------------------------------------------------------------------------------
    def _rebuild_live_labels(self, count: int) -> None:
        rows = len(self.schedules()) if count else 0
        if len(self.live_labels) == rows and all(len(r) == count for r in self.live_labels):
            return
        while self.live_grid.count():
            item = self.live_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()  # gone now, even before the deferred delete runs
                item.widget().deleteLater()
        self.live_labels = []
        for row in range(rows):
            caption = QLabel()
            caption.setProperty("schedule_row", row)
            self.live_grid.addWidget(caption, row, 0)
            labels = []
            for column in range(count):
                label = ImageTile(TILE)
                label.setAccessibleName(f"Noised image {column + 1}, schedule {row + 1}")
                self.live_grid.addWidget(label, row, column + 1)
                labels.append(label)
            self.live_labels.append(labels)
        self.live_grid.setColumnStretch(count + 1, 1)

    def _refresh_all(self) -> None:
        self._show_frame(self.slider.value())
        self._draw_grid()

    @Slot(int)
    def _show_frame(self, t: int) -> None:
        """Draw x_t of every shown image under every shown schedule (the hot path of the slider)."""
        schedules = self.schedules()
        self.curves.set_marker(t)
        if len(schedules) == 1:
            self.t_label.setText(self._coefficients_text(schedules[0], t))
        else:  # one line per schedule, each named
            width = max(len(s.name) for s in schedules) + 2
            self.t_label.setText("\n".join(self._coefficients_text(s, t, prefix=s.name.ljust(width))
                                           for s in schedules))
        if self.noiser.x0 is None or not self.live_labels:
            return
        for row, schedule in enumerate(schedules):
            caption = self.live_grid.itemAtPosition(row, 0).widget()
            caption.setText(schedule.name)
            frames = to_uint8(self.noiser.xt(schedule, t))  # (B, H, W, C)
            for column, tile in enumerate(self.live_labels[row]):
                tile.set_image(to_qimage_rgb32(frames[column]))
        self.frame_shown.emit(t)

    @staticmethod
    def _coefficients_text(schedule: NoiseSchedule, t: int, prefix: str = "") -> str:
        if t <= 0:
            return f"{prefix}t = 0 / {schedule.timesteps}   x₀ (the image)   ᾱ = 1"
        i = min(t, schedule.timesteps) - 1
        abar = float(schedule.alphas_cumprod[i])
        return (f"{prefix}t = {t} / {schedule.timesteps}   ᾱ = {abar:.4f}   √ᾱ = {abar ** 0.5:.3f}   "
                f"√(1-ᾱ) = {(1 - abar) ** 0.5:.3f}   log SNR = {float(schedule.log_snr[i]):+6.2f}")

    @Slot(str)
    def _keep_compare_different(self, name: str) -> None:
        """The comparison is always with another schedule (choosing the compared one for the main swaps them)."""
        if self.compare_combo.currentText() == name:
            self.compare_combo.setCurrentText(_other_schedule(name))

    @Slot(str)
    def _on_t_out_of_range(self, message: str) -> None:
        self.t_range_label.setText(message)
        self.t_range_label.setToolTip(message)
        self.t_range_label.show()
        self._t_message_timer.start()

    @Slot(object)
    def _on_data_profile(self, profile: DataProfile) -> None:
        """Follow the data: its typical size (16 px digits are shown at 16 px) and grey or RGB."""
        shape = propose_data_shape(profile, preset=None, sizes=SIZES)
        for combo in (self.size_combo, self.channels_combo):
            combo.blockSignals(True)
        self.size_combo.setCurrentIndex(SIZES.index(shape.image_size))
        self.channels_combo.setCurrentIndex(self.channels_combo.findData(shape.channels))
        for combo in (self.size_combo, self.channels_combo):
            combo.blockSignals(False)
        self._reload()

    def _draw_grid(self) -> None:
        """The figure: one row per (image, schedule), one column per t of a spread from 0 to T."""
        if self.noiser.x0 is None:
            self.grid_label.clear()
            return
        schedules = self.schedules()
        ts = spread_of_t(schedules[0].timesteps)
        grids = [self.noiser.grid(s, ts) for s in schedules]  # each (B, len(ts), H, W, C)
        rows = [(f"#{self.indices[b]} {s.name}", grids[k][b]) for b in range(len(self.indices))
                for k, s in enumerate(schedules)]
        self.grid_label.setPixmap(QPixmap.fromImage(render_figure(rows, ts, self.palette())))


def _other_schedule(name: str) -> str:
    """The first schedule that is not `name` (the default to compare with)."""
    return next((other for other in SCHEDULE_NAMES if other != name), name)


def _tabular_font(font: QFont) -> QFont:
    """`font` with tabular (equal-width) digits, so numbers that change do not shift the text after them."""
    tabular = QFont(font)
    tabular.setFeature(QFont.Tag("tnum"), 1)
    return tabular
