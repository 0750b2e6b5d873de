"""The config diff of two runs: only the keys whose values differ, side by side (`app.run_table.config_diff`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.run_table import ConfigDifference

HINT = "select two runs to compare their configurations"
SAME = "the two runs have the same configuration"


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) or "()"
    return f"{value:g}" if isinstance(value, float) else str(value)


class ConfigDiffTable(QWidget):
    """A caption and a key | left run | right run table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel(HINT)
        self.caption.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.table, 1)
        self.show_difference(None)

    def show_difference(self, names: tuple[str, str] | None, differences: Sequence[ConfigDifference] = ()) -> None:
        """The differing keys of runs `names` (None: no pair selected)."""
        self.table.setRowCount(0)
        if names is None:
            self.caption.setText(HINT)
            self.table.setHorizontalHeaderLabels(["key", "", ""])
            return
        self.table.setHorizontalHeaderLabels(["key", *names])
        self.caption.setText(f"{len(differences)} setting(s) differ" if differences else SAME)
        self.table.setRowCount(len(differences))
        for row, diff in enumerate(differences):
            for column, text in enumerate((diff.key, _text(diff.left), _text(diff.right))):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)

    def rows(self) -> list[tuple[str, str, str]]:
        """What the table shows, row by row (key, left, right)."""
        return [tuple(self.table.item(r, c).text() for c in range(3)) for r in range(self.table.rowCount())]
