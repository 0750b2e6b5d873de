"""One 2-D plot of the lab: the data, a point cloud, the field as segments, trajectories as paths, samples.

Every layer is one pyqtgraph item whose data is replaced (never re-created): :class:`PointsItem` for the clouds
(one ``QPainter.drawPoints`` of a QPolygonF filled from numpy: 5,000 points are replaced and drawn in well under a
millisecond, where pyqtgraph's ScatterPlotItem.setData took ~50 ms), one `PlotDataItem` with ``connect="pairs"``
for the field and one with NaN-separated polylines (``connect="finite"``) for all the paths.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pyqtgraph.functions as fn
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter, QPen, QTransform
from PySide6.QtWidgets import QWidget

from ddpm_studio.app.lab import Field
from ddpm_studio.app.sweep_plot import SAMPLER_COLOURS

EXTENT = 1.6  # the view shows [-EXTENT, EXTENT]²: the data's [-1, 1] and the noise around it
DATA_COLOUR = (150, 150, 150, 110)
CLOUD_COLOUR = (40, 40, 40, 150)
FIELD_PEN = pg.mkPen((0, 114, 178, 200), width=1)
CONTOUR_PEN = pg.mkPen((213, 94, 0, 170), width=1)  # the data density's contour lines (vermilion)
DENSITY_LUT = np.stack([np.linspace(255, 200, 256), np.linspace(255, 225, 256), np.full(256, 255.0)], 1).astype(
    np.uint8)  # white to a pale blue
FIELD_SCALE = 0.3  # a segment goes x_t -> x_t + 0.3 (x̂_0 - x_t): long enough to read, short enough not to cross


def sampler_colour(method: str, alpha: int = 255) -> tuple[int, int, int, int]:
    return (*SAMPLER_COLOURS.get(method, (90, 60, 160)), alpha)


def polylines(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S, N, 2) paths -> x, y of N polylines separated by NaN (pyqtgraph's connect="finite")."""
    s, n, _ = paths.shape
    padded = np.full((n, s + 1, 2), np.nan, dtype=np.float64)
    padded[:, :s] = paths.transpose(1, 0, 2)
    flat = padded.reshape(-1, 2)
    return flat[:, 0], flat[:, 1]


def segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs start_i, end_i interleaved for connect="pairs"."""
    both = np.empty((2 * len(starts), 2), dtype=np.float64)
    both[0::2], both[1::2] = starts, ends
    return both[:, 0], both[:, 1]


class PointsItem(pg.GraphicsObject):
    """N points as square dots of a fixed pixel size: one QPolygonF, mapped to device pixels and drawn there."""

    def __init__(self, size: int, colour: tuple[int, ...]) -> None:
        super().__init__()
        self._size = size  # the side of each square dot in pixels
        self._pen = QPen(QColor(*colour), 1)
        self._pen.setCosmetic(True)
        self._points = np.zeros((0, 2))
        self._polygon = fn.create_qpolygonf(0)
        self._bounds = QRectF()

    def setData(self, points: np.ndarray | None) -> None:
        self.prepareGeometryChange()
        points = np.zeros((0, 2)) if points is None else np.asarray(points, dtype=np.float64)
        self._points = points
        self._polygon = fn.create_qpolygonf(len(points))
        if len(points):
            fn.ndarray_from_qpolygonf(self._polygon)[:] = points
            low, high = points.min(axis=0), points.max(axis=0)
            self._bounds = QRectF(low[0], low[1], high[0] - low[0], high[1] - low[1])
        else:
            self._bounds = QRectF()
        self.update()

    def setColour(self, colour: tuple[int, ...]) -> None:
        self._pen.setColor(QColor(*colour))
        self.update()

    @property
    def data(self) -> np.ndarray:
        return self._points

    def getData(self) -> tuple[np.ndarray, np.ndarray]:
        return self._points[:, 0], self._points[:, 1]

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, *args: object) -> None:
        if len(self._points):
            # drawn in device pixels: under the view's y-flipped, anisotropic transform Qt drew the dots as dashes
            # and as size² one-pixel passes, which the raster engine blits; a wide pen is stroked point by point
            device = painter.transform().map(self._polygon)
            painter.save()
            painter.setPen(self._pen)
            for dx in range(self._size):
                for dy in range(self._size):
                    painter.setTransform(QTransform.fromTranslate(dx - self._size // 2, dy - self._size // 2))
                    painter.drawPoints(device)
            painter.restore()


class PointPlot(pg.PlotWidget):
    """A square [-1.6, 1.6]² plot with the lab's layers, bottom to top: data, cloud, field, paths, samples."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMinimumSize(220, 220)
        item = self.getPlotItem()
        item.setAspectLocked(True)
        item.setRange(xRange=(-EXTENT, EXTENT), yRange=(-EXTENT, EXTENT), padding=0)
        item.disableAutoRange()  # a fixed frame: x_T's outliers must not zoom the data away
        item.setMouseEnabled(False, False)
        item.hideButtons()
        item.showGrid(x=True, y=True, alpha=0.15)
        if title:
            item.setTitle(title, color="#333", size="8pt")
        self.data_item = PointsItem(2, DATA_COLOUR)
        self.data_item.setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)  # static: blit
        self.cloud_item = PointsItem(2, CLOUD_COLOUR)
        self.field_item = pg.PlotDataItem(pen=FIELD_PEN, connect="pairs")
        self.paths_item = pg.PlotDataItem(connect="finite")
        self.samples_item = PointsItem(3, sampler_colour(""))
        self.density_item = pg.ImageItem(axisOrder="col-major")  # the data's density, shaded under everything
        self.density_item.setLookupTable(DENSITY_LUT)
        self.density_item.setRect(QRectF(-EXTENT, -EXTENT, 2 * EXTENT, 2 * EXTENT))
        self.contour_item = pg.PlotDataItem(pen=CONTOUR_PEN, connect="finite")  # the density's contour lines
        for layer in (self.density_item, self.data_item, self.contour_item, self.cloud_item, self.field_item,
                      self.paths_item, self.samples_item):
            self.addItem(layer)

    def resizeEvent(self, event) -> None:
        """Keep all of [-1.6, 1.6]² in view at any size: the locked aspect widens the longer axis, never crops."""
        super().resizeEvent(event)
        if self.getPlotItem() is not None:  # (the base class resizes once before the plot item exists)
            self.getPlotItem().setRange(xRange=(-EXTENT, EXTENT), yRange=(-EXTENT, EXTENT), padding=0)

    def set_title(self, text: str) -> None:
        self.getPlotItem().setTitle(text, color="#333", size="8pt")

    @property
    def title_text(self) -> str:
        return self.getPlotItem().titleLabel.text

    def set_data(self, points: np.ndarray | None) -> None:
        self.data_item.setData(points)

    def set_density(self, density: np.ndarray | None) -> None:
        """A (G, G) density (x index first) shaded behind the points; the densest tenth of cells is the darkest."""
        if density is None:
            self.density_item.clear()
            return
        top = float(np.quantile(density[density > 0], 0.9)) if (density > 0).any() else 1.0
        self.density_item.setImage(np.clip(density / top, 0, 1), levels=(0, 1), autoLevels=False)
        self.density_item.setRect(QRectF(-EXTENT, -EXTENT, 2 * EXTENT, 2 * EXTENT))

    def set_contours(self, contours: tuple[np.ndarray, np.ndarray] | None) -> None:
        """The data density's contour lines (NaN-separated x, y, made by the worker); None clears them."""
        if contours is None or len(contours[0]) == 0:
            self.contour_item.setData([], [])
        else:
            self.contour_item.setData(*contours)

    def show_contours(self, shown: bool) -> None:
        self.contour_item.setVisible(shown)

    def set_cloud(self, points: np.ndarray | None) -> None:
        self.cloud_item.setData(points)

    def set_field(self, field: Field | None, mode: str = "x0", scale: float = FIELD_SCALE) -> None:
        """Segments from each grid point x_t: towards its x̂_0 (``mode="x0"``, a fixed share of the way), or along
        the score −ε̂/σ_t (``"score"``, lengths relative to the median so that every t reads alike)."""
        if field is None:
            self.field_item.setData([], [])
            return
        if mode == "score":
            norms = np.linalg.norm(field.score, axis=1, keepdims=True)
            columns = np.unique(field.positions[:, 0])
            spacing = float(np.diff(columns).min()) if len(columns) > 1 else 0.1  # the grid's step
            step = field.score / max(float(np.median(norms)), 1e-12) * 0.6 * spacing
            length = np.linalg.norm(step, axis=1, keepdims=True)
            ends = field.positions + step * np.minimum(1.0, 2 * spacing / np.maximum(length, 1e-12))
        else:
            ends = field.positions + scale * (field.x0 - field.positions)
        self.field_item.setData(*segments(field.positions, ends))

    def set_paths(self, paths: np.ndarray | None, method: str = "", count: int = 40) -> None:
        """The first ``count`` trajectories (S, N, 2) as faint polylines in the sampler's colour."""
        if paths is None or count == 0:
            self.paths_item.setData([], [])
            return
        self.paths_item.setPen(pg.mkPen(sampler_colour(method, 90), width=1))
        self.paths_item.setData(*polylines(paths[:, :count]))

    def set_samples(self, points: np.ndarray | None, method: str = "") -> None:
        self.samples_item.setColour(sampler_colour(method, 220))
        self.samples_item.setData(points)
