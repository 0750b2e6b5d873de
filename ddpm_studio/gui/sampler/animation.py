"""The frame player of the reverse process: play/pause, speed, a scrub slider, the current step and t.

`FramePlayer` owns no pixels: it knows how many frames exist and each frame's (step, t) and emits
`current_changed(index)`; the view that holds the frames paints them. While frames stream in, the player
"follows" the newest one until the user grabs the slider or presses play. `ImagePane` shows one uint8
image scaled up with crisp pixels, used by the sampler view and the preview filmstrip; it can name the rows of a
grid at their left ("all classes": one row per class), drawn at screen resolution so the names stay crisp.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.gui.widgets.image_utils import scaled_nearest, to_qpixmap

SPEEDS_FPS: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
DEFAULT_FPS = 20.0


class ImagePane(QWidget):
    """A titled image that fills its space, upscaled with nearest-neighbour (no blur on 32x32 data)."""

    def __init__(self, title: str = "", parent: QWidget | None = None, *, min_side: int = 96) -> None:
        super().__init__(parent)
        self.title = QLabel(title)
        self.title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setMinimumSize(min_side, min_side)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.label.setStyleSheet("background: #202020;")
        self._pixmap: QPixmap | None = None
        self._array: np.ndarray | None = None
        self._row_names: tuple[str, ...] = ()
        self._row_geometry = (0, 0)  # (image height, padding) of the grid's rows, in source pixels
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.label, 1)

    def set_image(self, array: np.ndarray | None) -> None:
        """Show an (H, W, C) uint8 image, or nothing."""
        self._array = array
        self._pixmap = to_qpixmap(array) if array is not None else None
        self._rescale()

    def set_row_labels(self, names: tuple[str, ...], image_height: int = 0, pad: int = 0) -> None:
        """Name each row of the grid shown (rows of `image_height` px with `pad` px around them) at its left;
        () shows the picture alone."""
        if (tuple(names), (image_height, pad)) != (self._row_names, self._row_geometry):
            self._row_names, self._row_geometry = tuple(names), (image_height, pad)
            self._rescale()

    def row_labels(self) -> tuple[str, ...]:
        return self._row_names

    def image(self) -> np.ndarray | None:
        """The array currently shown."""
        return self._array

    def set_title(self, text: str) -> None:
        self.title.setText(text)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None:
            self.label.clear()
            return
        size = self.label.size()
        names_w = self._names_width()
        side = QSize(max(16, size.width() - 4 - names_w), max(16, size.height() - 4))
        scaled = scaled_nearest(self._pixmap, side)
        self.label.setPixmap(self._with_names(scaled, names_w) if names_w else scaled)

    def _names_width(self) -> int:
        metrics = self.label.fontMetrics()
        return max((metrics.horizontalAdvance(name) for name in self._row_names), default=-8) + 8

    def _with_names(self, scaled: QPixmap, names_w: int) -> QPixmap:
        """`scaled` with each row's name right-aligned to its left, centred on the row."""
        canvas = QPixmap(scaled.width() + names_w, scaled.height())
        canvas.fill(QColor("#202020"))
        painter = QPainter(canvas)
        painter.drawPixmap(names_w, 0, scaled)
        painter.setPen(QColor("#f0f0f0"))
        factor = scaled.height() / max(1, self._pixmap.height())
        height, pad = self._row_geometry
        line = self.label.fontMetrics().height()
        for i, name in enumerate(self._row_names):
            centre = (pad + i * (height + pad) + height / 2) * factor
            painter.drawText(QRect(0, round(centre - line / 2), names_w - 6, line),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), name)
        painter.end()
        return canvas


class FramePlayer(QWidget):
    """Play/pause, speed, loop, a scrub slider over the frames, and "step i/N · t = ..." for the current one."""

    current_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._labels: list[tuple[int, int, int]] = []  # (step index, num_steps, t) per frame
        self._follow = True
        self.play_button = QToolButton()
        self.play_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._play_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self._pause_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause)
        self.play_button.setIcon(self._play_icon)  # Qt's media icons: no missing-glyph box in any font
        self.play_button.setText("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._on_play_toggled)
        self.speed = QComboBox()
        for fps in SPEEDS_FPS:
            self.speed.addItem(f"{fps:g} frames/s", fps)
        self.speed.setCurrentIndex(SPEEDS_FPS.index(DEFAULT_FPS))
        self.speed.currentIndexChanged.connect(self._apply_speed)
        self.loop_box = QCheckBox("loop")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.sliderPressed.connect(self._stop_following)
        self.info = QLabel("no frames")
        self.info.setMinimumWidth(190)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.play_button, self.speed, self.loop_box):
            layout.addWidget(widget)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.info)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._apply_speed()

    # -- frames --------------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget all frames (a new sampling run starts); follow the newest again."""
        self.pause()
        self._labels.clear()
        self._follow = True
        self.slider.blockSignals(True)
        self.slider.setRange(0, 0)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.info.setText("no frames")

    def append_frame(self, index: int, num_steps: int, t: int) -> None:
        """One more frame exists: sampler step `index` of `num_steps` at timestep `t`."""
        self._labels.append((index, num_steps, t))
        self.slider.setRange(0, len(self._labels) - 1)
        if self._follow and not self.is_playing():
            self.set_current(len(self._labels) - 1)

    def frame_count(self) -> int:
        return len(self._labels)

    def current_index(self) -> int:
        return self.slider.value()

    def set_current(self, index: int) -> None:
        """Show frame `index` (clamped); emits current_changed."""
        if not self._labels:
            return
        index = max(0, min(index, len(self._labels) - 1))
        if self.slider.value() != index:
            self.slider.setValue(index)  # -> _on_slider
        else:
            self._on_slider(index)

    def info_text(self) -> str:
        return self.info.text()

    # -- playback ------------------------------------------------------------------------------
    def play(self) -> None:
        self.play_button.setChecked(True)

    def pause(self) -> None:
        self.play_button.setChecked(False)

    def is_playing(self) -> bool:
        return self.play_button.isChecked()

    def fps(self) -> float:
        return float(self.speed.currentData())

    def _apply_speed(self) -> None:
        self._timer.setInterval(max(1, int(round(1000.0 / self.fps()))))

    def _on_play_toggled(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        self.play_button.setIcon(self._pause_icon if playing else self._play_icon)
        if not playing:
            self._timer.stop()
            return
        self._follow = False
        if self.current_index() >= len(self._labels) - 1:  # at the end: replay from the start
            self.set_current(0)
        self._timer.start()

    def _tick(self) -> None:
        nxt = self.current_index() + 1
        if nxt >= len(self._labels):
            if self.loop_box.isChecked() and self._labels:
                nxt = 0
            else:
                self.pause()
                return
        self.set_current(nxt)

    def _stop_following(self) -> None:
        self._follow = False

    def _on_slider(self, index: int) -> None:
        if 0 <= index < len(self._labels):
            step, num_steps, t = self._labels[index]
            self.info.setText(f"frame {index + 1}/{len(self._labels)} · step {step + 1}/{num_steps} · t = {t}")
        self.current_changed.emit(index)
