"""A mask brush over one small image: paint (or erase) discs, drag rectangles, invert, clear, presets.

The mask is a bool (H, W) array at the image's own size, True = the region to fill (what a person paints); the
image is drawn nearest-upscaled to fit the widget with the mask as a translucent red overlay. Everything happens
on the GUI thread and is cheap (images are at most a few hundred pixels wide).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from ddpm_studio.app.inpainting_masks import preset_mask
from ddpm_studio.gui.widgets.image_utils import to_qimage

OVERLAY = QColor(230, 40, 40, 140)


class MaskCanvas(QWidget):
    """Paint the region to fill over an image. Signal `mask_changed()` after every edit."""

    mask_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: np.ndarray | None = None  # (H, W, C) uint8
        self.mask = np.zeros((1, 1), dtype=bool)
        self.brush = 2  # radius in image pixels
        self.erasing = False
        self.rectangle = False
        self._drag_start: tuple[int, int] | None = None
        self._pixmap: QPixmap | None = None
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAccessibleName("Mask brush")

    def sizeHint(self) -> QSize:
        return QSize(256, 256)

    # -- the model ------------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray | None) -> None:
        """Show `image` (H, W, C) uint8; a mask of another size starts empty."""
        self.image = image
        self._pixmap = QPixmap.fromImage(to_qimage(image)) if image is not None else None
        if image is not None and self.mask.shape != image.shape[:2]:
            self.mask = np.zeros(image.shape[:2], dtype=bool)
            self.mask_changed.emit()
        self.update()

    def set_mask(self, mask: np.ndarray) -> None:
        self.mask = np.asarray(mask, dtype=bool).copy()
        self.update()
        self.mask_changed.emit()

    def apply_preset(self, name: str) -> None:
        size = self.mask.shape[0]
        self.set_mask(preset_mask(name, size)[0, 0].numpy() > 0.5)

    def invert(self) -> None:
        self.set_mask(~self.mask)

    def clear(self) -> None:
        self.set_mask(np.zeros_like(self.mask))

    # -- geometry -------------------------------------------------------------------------------------
    def _target(self) -> QRect:
        """Where the image is drawn: the largest whole-pixel multiple that fits, centred."""
        h, w = self.mask.shape
        scale = max(1, min(self.width() // max(w, 1), self.height() // max(h, 1)))
        return QRect((self.width() - w * scale) // 2, (self.height() - h * scale) // 2, w * scale, h * scale)

    def to_image(self, point: QPoint) -> tuple[int, int] | None:
        """The image pixel (row, column) under a widget point, or None outside the image."""
        target = self._target()
        if not target.contains(point):
            return None
        scale = target.width() // self.mask.shape[1]
        return (point.y() - target.top()) // scale, (point.x() - target.left()) // scale

    # -- painting -------------------------------------------------------------------------------------
    def paint_at(self, row: int, col: int) -> None:
        """A disc of the brush radius set (or cleared when erasing) at image pixel (row, col)."""
        rows, cols = np.ogrid[: self.mask.shape[0], : self.mask.shape[1]]
        disc = (rows - row) ** 2 + (cols - col) ** 2 <= self.brush**2
        self.mask[disc] = not self.erasing
        self.update()
        self.mask_changed.emit()

    def fill_rect(self, a: tuple[int, int], b: tuple[int, int]) -> None:
        (r0, r1), (c0, c1) = sorted((a[0], b[0])), sorted((a[1], b[1]))
        self.mask[r0:r1 + 1, c0:c1 + 1] = not self.erasing
        self.update()
        self.mask_changed.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pixel = self.to_image(event.position().toPoint())
        if pixel is None or self.image is None:
            return
        if self.rectangle:
            self._drag_start = pixel
        else:
            self.paint_at(*pixel)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pixel = self.to_image(event.position().toPoint())
        if pixel is not None and self.image is not None and not self.rectangle and event.buttons():
            self.paint_at(*pixel)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        pixel = self.to_image(event.position().toPoint())
        if self._drag_start is not None and pixel is not None:
            self.fill_rect(self._drag_start, pixel)
        self._drag_start = None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self._pixmap is None:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Select an image in the Dataset tab")
            return
        target = self._target()
        painter.drawPixmap(target, self._pixmap)
        overlay = np.zeros((*self.mask.shape, 4), dtype=np.uint8)
        overlay[self.mask] = (OVERLAY.red(), OVERLAY.green(), OVERLAY.blue(), OVERLAY.alpha())
        painter.drawImage(target, to_qimage(overlay))
        painter.end()
