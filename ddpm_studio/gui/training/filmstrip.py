"""The per-epoch preview filmstrip: sample grids from a fixed noise seed, one per epoch.

Because every preview starts from the same noise, sliding back through the epochs shows the same
samples sharpening as the model learns. A large view shows the selected epoch; a row of thumbnails and
a slider select it. Previews arrive as (N, H, W, C) uint8 batches (from `PreviewEvent.preview`) or as
image files of a reopened run.

The selected thumbnail is marked by a border, never by tinting it with the selection colour: a preview's
colours are what a person is judging (each icon carries the same pixmap for its Selected mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.exports import tile
from ddpm_studio.gui.sampler.animation import ImagePane
from ddpm_studio.gui.widgets.image_utils import scaled_nearest, to_qpixmap

THUMB = 72
SELECTION_STYLE = ("QListView::item { border: 2px solid transparent; padding: 1px; }"
                   "QListView::item:selected { border: 2px solid palette(highlight); background: transparent;"
                   " color: palette(text); }")


@dataclass(frozen=True)
class Preview:
    """One epoch's preview grid."""

    epoch: int
    step: int | None
    grid: np.ndarray  # (H, W, C) uint8


def load_preview_file(path: Path) -> np.ndarray:
    """A saved preview image -> (H, W, C) uint8 (grey stays one channel)."""
    with Image.open(path) as img:
        img.load()
        array = np.asarray(img.convert("L") if img.mode in ("L", "1", "I;16") else img.convert("RGB"))
    return array[:, :, None] if array.ndim == 2 else array


def epoch_from_name(path: Path, fallback: int) -> int:
    """'epoch_0007.png' / 'preview_e7.png' -> 7: the last run of digits in the stem, else `fallback`."""
    digits = "".join(ch if ch.isdigit() else " " for ch in path.stem).split()
    return int(digits[-1]) if digits else fallback


class Filmstrip(QWidget):
    """Slide back through epochs: a large view of the selected preview, thumbnails and a slider."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._previews: list[Preview] = []
        self.view = ImagePane("No previews yet", min_side=100)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._show)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setFlow(QListView.Flow.LeftToRight)
        self.thumbs.setWrapping(False)
        self.thumbs.setMovement(QListView.Movement.Static)
        self.thumbs.setIconSize(QSize(THUMB, THUMB))
        self.thumbs.setStyleSheet(SELECTION_STYLE)
        self.thumbs.setFixedHeight(THUMB + 34)
        self.thumbs.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.thumbs.currentRowChanged.connect(self._on_thumb)
        header = QHBoxLayout()
        # previews come by time share (or every N steps/epochs), not once an epoch (issue 22 N10)
        self.header = QLabel("<b>Previews</b> (the same starting noise each time)")
        self.header.setToolTip("Sampled from the EMA model as training goes (as often as the preview setting "
                               "allows), always from the same noise, so the grids compare directly.")
        header.addWidget(self.header)
        header.addStretch(1)
        header.addWidget(self.slider, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.thumbs)

    def add_preview(self, epoch: int, batch_or_grid: np.ndarray, step: int | None = None) -> None:
        """Append one epoch's preview ((N, H, W, C) batch or a ready (H, W, C) grid) and show it."""
        grid = tile(batch_or_grid) if batch_or_grid.ndim == 4 else batch_or_grid
        self._previews.append(Preview(epoch, step, grid))
        pixmap = scaled_nearest(to_qpixmap(grid), QSize(THUMB, THUMB))
        icon = QIcon(pixmap)
        icon.addPixmap(pixmap, QIcon.Mode.Selected)  # untinted when selected: the border shows the selection
        item = QListWidgetItem(icon, f"step {step}" if step is not None else f"epoch {epoch}")
        item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.thumbs.addItem(item)
        self.slider.setEnabled(True)
        self.slider.setRange(0, len(self._previews) - 1)
        self.set_current(len(self._previews) - 1)

    def load_files(self, paths: list[Path]) -> list[str]:
        """Replace the strip with saved preview images; returns one-line problems for unreadable files."""
        self.clear()
        problems = []
        for i, path in enumerate(sorted(paths)):
            try:
                grid = load_preview_file(path)
            except (OSError, ValueError) as exc:
                problems.append(f"{path.name}: {exc}")
                continue
            self.add_preview(epoch_from_name(path, i + 1), grid)
        return problems

    def clear(self) -> None:
        self._previews.clear()
        self.thumbs.clear()
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.view.set_image(None)
        self.view.set_title("No previews yet")

    def count(self) -> int:
        return len(self._previews)

    def current(self) -> Preview | None:
        i = self.slider.value()
        return self._previews[i] if 0 <= i < len(self._previews) else None

    def set_current(self, index: int) -> None:
        """Select preview `index` (slider, thumbnails and large view follow)."""
        if not self._previews:
            return
        index = max(0, min(index, len(self._previews) - 1))
        if self.slider.value() != index:
            self.slider.setValue(index)
        else:
            self._show(index)

    def _on_thumb(self, row: int) -> None:
        if row >= 0:
            self.set_current(row)

    def _show(self, index: int) -> None:
        if not 0 <= index < len(self._previews):
            return
        preview = self._previews[index]
        step = f", step {preview.step}" if preview.step is not None else ""
        self.view.set_title(f"Epoch {preview.epoch}{step}  ({index + 1}/{len(self._previews)})")
        self.view.set_image(preview.grid)
        if self.thumbs.currentRow() != index:
            self.thumbs.blockSignals(True)
            self.thumbs.setCurrentRow(index)
            self.thumbs.blockSignals(False)
            self.thumbs.scrollToItem(self.thumbs.item(index))
