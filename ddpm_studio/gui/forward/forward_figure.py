"""The forward view's figure: every selected image at a spread of t from 0 to T (Ho et al. 2020, Fig. 2 style).

`app.forward.spread_of_t` picks the columns; `render_figure` paints labelled rows of uint8 tiles under a `t = …`
header into one QImage, in the palette's colours. Painting happens on the GUI thread.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QImage, QPainter, QPalette

from ddpm_studio.gui.widgets.image_utils import to_qimage

GRID_TILE = 60  # on-screen size of one grid cell (px)


def render_figure(rows: list[tuple[str, np.ndarray]], ts: list[int], palette: QPalette) -> QImage:
    """Paint labelled rows of (len(ts), H, W, C) uint8 tiles with a `t = …` header (GUI thread)."""
    margin, header, gap = 84, 22, 4
    width = margin + len(ts) * (GRID_TILE + gap)
    height = header + len(rows) * (GRID_TILE + gap)
    canvas = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    canvas.fill(palette.color(QPalette.ColorRole.Base))
    painter = QPainter(canvas)
    painter.setPen(palette.color(QPalette.ColorRole.Text))
    font = QFont(painter.font())
    font.setPointSizeF(8.5)
    painter.setFont(font)
    for c, t in enumerate(ts):
        x = margin + c * (GRID_TILE + gap)
        painter.drawText(x, 0, GRID_TILE, header, Qt.AlignmentFlag.AlignCenter, f"t = {t}")
    for r, (name, tiles) in enumerate(rows):
        y = header + r * (GRID_TILE + gap)
        painter.drawText(4, y, margin - 8, GRID_TILE, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name)
        for c in range(len(ts)):
            tile = to_qimage(tiles[c]).scaled(GRID_TILE, GRID_TILE, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.FastTransformation)
            painter.drawImage(margin + c * (GRID_TILE + gap), y, tile)
    painter.end()
    return canvas
