"""numpy uint8 images -> QImage / QPixmap, without sharing memory with numpy.

QImages may be built on any thread (thumbnail workers do); QPixmaps only on the GUI thread.
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import QWidget


def to_qimage(array: np.ndarray) -> QImage:
    """(H,W), (H,W,1), (H,W,3) or (H,W,4) uint8 -> a QImage that owns a copy of the pixels."""
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        fmt, channels = QImage.Format.Format_Grayscale8, 1
    elif array.ndim == 3 and array.shape[2] == 3:
        fmt, channels = QImage.Format.Format_RGB888, 3
    elif array.ndim == 3 and array.shape[2] == 4:
        fmt, channels = QImage.Format.Format_RGBA8888, 4
    else:
        raise ValueError(f"expected an (H,W[,1|3|4]) image, got shape {array.shape}")
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    image = QImage(array.data, width, height, width * channels, fmt)
    return image.copy()  # detach from the numpy buffer


def to_qimage_rgb32(array: np.ndarray) -> QImage:
    """(H,W,3) or (H,W) uint8 -> Format_RGB32 QImage: the format Qt scales and paints fastest."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"expected an (H,W[,3]) uint8 image, got {array.dtype} {array.shape}")
    rgb = np.repeat(array[:, :, None], 3, axis=2) if array.ndim == 2 else array[:, :, :3]
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    height, width = rgb.shape[:2]
    packed = np.empty((height, width, 4), dtype=np.uint8)  # one 0xffRRGGBB word per pixel
    if sys.byteorder == "little":
        packed[..., 0], packed[..., 1], packed[..., 2], packed[..., 3] = rgb[..., 2], rgb[..., 1], rgb[..., 0], 255
    else:
        packed[..., 0], packed[..., 1], packed[..., 2], packed[..., 3] = 255, rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return QImage(packed.data, width, height, width * 4, QImage.Format.Format_RGB32).copy()


def to_qpixmap(array: np.ndarray) -> QPixmap:
    """uint8 image -> QPixmap. GUI thread only."""
    return QPixmap.fromImage(to_qimage(array))


def qimage_to_array(image: QImage) -> np.ndarray:
    """QImage -> (H,W,3) uint8 RGB copy (used by tests and screenshots to read what is shown)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = rgb.width(), rgb.height(), rgb.bytesPerLine()
    buffer = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()


def pil_to_qimage(image) -> QImage:  # PIL.Image.Image
    """A decoded PIL image (any mode) -> QImage (RGB or grayscale copy)."""
    if image.mode not in ("RGB", "L", "RGBA"):
        image = image.convert("RGB")
    return to_qimage(np.asarray(image))


def scaled_nearest(pixmap: QPixmap, size: QSize) -> QPixmap:
    """Scale a small image up with crisp pixels (diffusion images are tiny), keeping the aspect ratio."""
    return pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)


def thumbnail_qimage(image, size: int) -> QImage:  # PIL.Image.Image
    """Fit a PIL image into a size x size box, as a QImage: a larger image shrinks smoothly; a small one grows by
    a whole factor with crisp (nearest-neighbour) pixels, so a 16 px digit fills a 96 px cell. Any thread."""
    factor = size // max(image.size)
    if factor >= 2:
        return pil_to_qimage(image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST))
    thumb = image.copy()
    thumb.thumbnail((size, size))
    return pil_to_qimage(thumb)


class ImageTile(QWidget):
    """Shows one QImage scaled to fit with crisp (nearest) pixels; cheap to update many times a second."""

    def __init__(self, size: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image = QImage()
        self.setFixedSize(size, size)

    def image(self) -> QImage:
        """The image shown, at its own resolution."""
        return self._image

    def set_image(self, image: QImage) -> None:
        self._image = image
        self.update()

    def sizeHint(self) -> QSize:
        return self.size()

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._image.isNull():
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        scaled = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, scaled.width(), scaled.height())
        target.moveCenter(self.rect().center())
        painter.drawImage(target, self._image)
        painter.end()
