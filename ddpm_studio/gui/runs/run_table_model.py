"""The runs table's model: one `app.run_table.RunRow` per row, sortable by the numbers (not their text) and
filtered by a phrase that any column may contain (QSortFilterProxyModel)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from ddpm_studio.app.run_table import RunRow

SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # the value a column sorts by
ROW_ROLE = Qt.ItemDataRole.UserRole + 2  # the RunRow itself
_MISSING = float("inf")  # a run without the number sorts after every run with it (ascending)


def _minutes(row: RunRow) -> str:
    return f"{row.minutes:.1f}" if row.minutes is not None else "-"


# (header, text, sort key, tooltip)
COLUMNS: tuple[tuple[str, Callable[[RunRow], str], Callable[[RunRow], Any], Callable[[RunRow], str]], ...] = (
    ("name", lambda r: r.name, lambda r: r.name.lower(), lambda r: str(r.path)),
    ("state", lambda r: r.state, lambda r: r.state, lambda r: r.state_detail or r.state),
    ("data", lambda r: r.data, lambda r: r.data.lower(), lambda r: r.data),
    ("size", lambda r: f"{r.image_size}px", lambda r: r.image_size, lambda r: f"{r.channels} channel(s)"),
    ("preset", lambda r: r.preset, lambda r: r.preset, lambda r: "UNet preset"),
    ("objective", lambda r: r.objective, lambda r: r.objective, lambda r: "what the network predicts"),
    ("classes", lambda r: r.conditional, lambda r: len(r.classes), lambda r: ", ".join(r.classes) or "unconditional"),
    ("minutes", _minutes, lambda r: r.minutes if r.minutes is not None else _MISSING,
     lambda r: "training time at the latest checkpoint"),
    ("steps", lambda r: f"{r.step:,}", lambda r: r.step,
     lambda r: f"of {r.total_steps:,}" if r.total_steps else "latest checkpoint"),
    ("best score", lambda r: r.best_text, lambda r: r.best_value if r.best_value is not None else _MISSING,
     lambda r: f"measured with {r.protocol}" if r.protocol else "not scored"),
    ("modified", lambda r: f"{datetime.fromtimestamp(r.modified):%Y-%m-%d %H:%M}", lambda r: r.modified,
     lambda r: "last write"),
)
COLUMN_NAMES = tuple(c[0] for c in COLUMNS)


class RunTableModel(QAbstractTableModel):
    """The rows of `app.run_table.run_rows`, replaced whole by `set_rows`."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: tuple[RunRow, ...] = ()

    @property
    def rows(self) -> tuple[RunRow, ...]:
        return self._rows

    def set_rows(self, rows: Sequence[RunRow]) -> None:
        self.beginResetModel()
        self._rows = tuple(rows)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        _, text, key, tip = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text(row)
        if role == SORT_ROLE:
            return key(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip(row)
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.TextAlignmentRole and COLUMNS[index.column()][0] in ("minutes", "steps", "size"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][0]
        return None


class RunFilterProxy(QSortFilterProxyModel):
    """Sorts by SORT_ROLE; keeps the rows where any column's text contains the filter phrase (any case)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def set_phrase(self, phrase: str) -> None:
        self.setFilterFixedString(phrase.strip())
