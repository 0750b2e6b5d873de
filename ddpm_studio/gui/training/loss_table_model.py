"""The per-image loss table's model: one `app.per_image_losses.ImageLoss` per row, the image's thumbnail as its
decoration, sortable by the numbers (SORT_ROLE), and the near-duplicate pairs' model beside it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSize, QSortFilterProxyModel, Qt
from PySide6.QtGui import QPixmap

from ddpm_studio.app.near_duplicates import DuplicatePair
from ddpm_studio.app.per_image_losses import ImageLoss
from ddpm_studio.gui.widgets.image_utils import scaled_nearest, to_qpixmap

SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # the value a column sorts by
ROW_ROLE = Qt.ItemDataRole.UserRole + 2  # the ImageLoss / DuplicatePair itself
THUMBNAIL_SIDE = 40  # px: thumbnails are enlarged with nearest-neighbour pixels (training images are small)
FIXED_COLUMNS = ("image", "class", "mean loss", "× median", "split")
SPLIT_COLUMN = FIXED_COLUMNS.index("split")  # trained / held out for the validation loss
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class Thumbnails:
    """QPixmaps of the data set's images (uint8 (N, H, W, C)), made on first use on the GUI thread."""

    def __init__(self, images: np.ndarray | None = None) -> None:
        self._images = images
        self._pixmaps: dict[int, QPixmap] = {}

    def pixmap(self, index: int) -> QPixmap | None:
        if self._images is None or not 0 <= index < len(self._images):
            return None
        if index not in self._pixmaps:
            side = QSize(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
            self._pixmaps[index] = scaled_nearest(to_qpixmap(self._images[index]), side)
        return self._pixmaps[index]


class LossTableModel(QAbstractTableModel):
    """Rows of image losses: image (thumbnail + name), class, mean loss, × median, split (trained / held out),
    then one column per t_k."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: tuple[ImageLoss, ...] = ()
        self._timesteps: tuple[int, ...] = ()
        self._median = float("nan")
        self.thumbnails = Thumbnails()

    @property
    def rows(self) -> tuple[ImageLoss, ...]:
        return self._rows

    def set_rows(self, rows: Sequence[ImageLoss], timesteps: tuple[int, ...], median: float,
                 thumbnails: Thumbnails) -> None:
        self.beginResetModel()
        self._rows, self._timesteps, self._median, self.thumbnails = tuple(rows), timesteps, median, thumbnails
        self.endResetModel()

    def clear(self) -> None:
        self.set_rows((), (), float("nan"), Thumbnails())

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(FIXED_COLUMNS) + len(self._timesteps)

    def _value(self, row: ImageLoss, column: int) -> tuple[str, Any]:
        """(text, sort key) of one cell."""
        if column == 0:
            return row.key, row.key.lower()
        if column == 1:
            return row.label or "-", row.label or ""
        if column == 2:
            return f"{row.mean:.4f}", row.mean
        if column == 3:
            times = row.mean / self._median if self._median > 0 else float("nan")
            return f"{times:.2f}", times
        if column == SPLIT_COLUMN:
            return ("held out", 1) if row.held_out else ("trained", 0)
        value = row.per_timestep[column - len(FIXED_COLUMNS)]
        return f"{value:.4f}", value

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._value(row, column)[0]
        if role == SORT_ROLE:
            return self._value(row, column)[1]
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return self.thumbnails.pixmap(row.index)
        if role == Qt.ItemDataRole.TextAlignmentRole and column >= 2:
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole:
            held = "; held out for the validation loss, never trained on" if row.held_out else ""
            return f"{row.key}: image {row.index} of the data set, mean loss {row.mean:.5f}{held}"
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return FIXED_COLUMNS[section] if section < len(FIXED_COLUMNS) else \
                f"t = {self._timesteps[section - len(FIXED_COLUMNS)]}"
        if role == Qt.ItemDataRole.ToolTipRole:
            if section == 3:
                return "the image's mean loss over the data set's median"
            if section == SPLIT_COLUMN:
                return "trained on, or held out for the run's validation loss (never trained on)"
            if section >= len(FIXED_COLUMNS):
                return "the loss at this timestep, fixed noise"
        return None


class SortProxy(QSortFilterProxyModel):
    """Sorts by SORT_ROLE (numbers as numbers)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)


DUPLICATE_COLUMNS = ("image A", "image B", "distance")


class DuplicatePairsModel(QAbstractTableModel):
    """The near-duplicate pairs, closest first: both thumbnails and names, and their RMS distance."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._pairs: tuple[DuplicatePair, ...] = ()
        self.thumbnails = Thumbnails()

    @property
    def pairs(self) -> tuple[DuplicatePair, ...]:
        return self._pairs

    def set_pairs(self, pairs: Sequence[DuplicatePair], thumbnails: Thumbnails) -> None:
        self.beginResetModel()
        self._pairs, self.thumbnails = tuple(pairs), thumbnails
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's API
        return 0 if parent.isValid() else len(self._pairs)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(DUPLICATE_COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        pair = self._pairs[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 2:
                return f"{pair.distance:.4f}" + (" (mirrored)" if pair.mirrored else "")
            return pair.first_key if column == 0 else pair.second_key
        if role == Qt.ItemDataRole.DecorationRole and column < 2:
            return self.thumbnails.pixmap(pair.first if column == 0 else pair.second)
        if role == ROW_ROLE:
            return pair
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 2:
            return _RIGHT
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return DUPLICATE_COLUMNS[section]
        return None
