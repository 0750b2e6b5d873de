"""The Dataset tab's classes (issue 20, item 1): a compact table of classes with their image counts, the
warnings of `data.class_overview` and the class filter for the thumbnails ("All classes", one entry per class,
"Unlabelled" when some files are). A view only: the numbers come from a `ClassOverview` computed off the GUI
thread; choosing a class (in the filter or by clicking its row) emits `filter_changed`."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.data.class_overview import FEW_IMAGES, IMBALANCE, ClassOverview
from ddpm_studio.data.labels import UNLABELLED

ALL = None  # the filter's "All classes"
_ALL_DATA = -2  # ... as the combo stores it (a None item data cannot be found again)
WARNING_STYLE = "color: #b35900;"  # amber, readable on light and dark themes
TABLE_ROWS = 6  # rows visible before the class table scrolls


class ClassPanel(QGroupBox):
    """Classes with counts, warnings and the thumbnail filter (`filter_combo`, placed by the Dataset view)."""

    filter_changed = Signal(object)  # None (all) or a class index (UNLABELLED = -1: the unlabelled files)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Classes", parent)
        self.overview: ClassOverview | None = None
        self.filter_combo = QComboBox()
        self.filter_combo.setAccessibleName("Show the thumbnails of one class")
        self.filter_combo.setToolTip("Show only the images of one class")
        self.filter_combo.currentIndexChanged.connect(self._on_filter)
        self.table = QTreeWidget()
        self.table.setAccessibleName("Classes and their image counts")
        self.table.setHeaderLabels(["Class", "Images"])
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.setUniformRowHeights(True)
        self.table.header().setStretchLastSection(False)
        self.table.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemClicked.connect(self._on_row_clicked)
        self.table.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.warnings_label = QLabel()
        self.warnings_label.setAccessibleName("Class warnings")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet(WARNING_STYLE)
        self.warnings_label.setToolTip(f"Warned of: a class with fewer than {FEW_IMAGES} images; the largest class "
                                       f"more than {IMBALANCE:g}× the smallest")
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.warnings_label)
        self.show_overview(None, [])

    # -- public -------------------------------------------------------------------------------
    def show_overview(self, overview: ClassOverview | None, keys: list[str]) -> None:
        """Show `overview` counted over `keys` (the valid images once checked); None: not known yet or no source.
        The filter keeps its class when the counts change for the same classes."""
        same = (overview is not None and self.overview is not None and overview.classes == self.overview.classes
                and overview.rule == self.overview.rule)
        kept = self.current_filter() if same else ALL
        self.overview = overview
        labelled = overview is not None and overview.labelled
        self.setVisible(labelled)
        self.filter_combo.setVisible(labelled)
        counts = overview.counts(keys) if labelled else ()
        unlabelled = len(overview.unlabelled(keys)) if labelled else 0
        self.setTitle(f"Classes ({len(counts)})")
        self.table.clear()
        self.table.addTopLevelItems([_row(name, n, i) for i, (name, n) in enumerate(counts)])
        if unlabelled:
            self.table.addTopLevelItem(_row("(unlabelled)", unlabelled, UNLABELLED))
        self._fit_table()
        warnings = overview.warnings(keys) if overview is not None and labelled else []
        self.warnings_label.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.warnings_label.setVisible(bool(warnings))
        self.filter_combo.blockSignals(True)
        self.filter_combo.clear()
        self.filter_combo.addItem(f"All classes ({sum(n for _, n in counts) + unlabelled:,})", _ALL_DATA)
        for i, (name, n) in enumerate(counts):
            self.filter_combo.addItem(f"{name} ({n:,})", i)
        if unlabelled:
            self.filter_combo.addItem(f"Unlabelled ({unlabelled:,})", UNLABELLED)
        index = self.filter_combo.findData(_ALL_DATA if kept is ALL else kept)
        self.filter_combo.setCurrentIndex(max(0, index))
        self.filter_combo.blockSignals(False)
        if kept is not ALL and index < 0:
            self.filter_changed.emit(ALL)

    def _fit_table(self) -> None:
        """As tall as its rows, up to TABLE_ROWS (then it scrolls): a short list leaves no empty box."""
        rows = min(max(1, self.table.topLevelItemCount()), TABLE_ROWS)
        first = self.table.topLevelItem(0)
        row_height = (self.table.visualItemRect(first).height() if first is not None else 0) or (
            self.table.fontMetrics().height() + 4)
        self.table.setFixedHeight(self.table.header().sizeHint().height() + rows * row_height
                                  + 2 * self.table.frameWidth() + 2)

    def current_filter(self) -> int | None:
        data = self.filter_combo.currentData()
        return ALL if data is None or data == _ALL_DATA else int(data)

    def set_filter(self, class_index: int | None) -> None:
        """Choose a class (None: all) as a person would in the filter."""
        index = self.filter_combo.findData(_ALL_DATA if class_index is ALL else class_index)
        if index >= 0:
            self.filter_combo.setCurrentIndex(index)

    def rows(self) -> list[tuple[str, int]]:
        """(class, images) as the table shows them."""
        return [(self.table.topLevelItem(i).text(0), int(self.table.topLevelItem(i).text(1).replace(",", "")))
                for i in range(self.table.topLevelItemCount())]

    # -- reactions ----------------------------------------------------------------------------
    @Slot(int)
    def _on_filter(self, _index: int) -> None:
        chosen = self.current_filter()
        self.table.clearSelection()
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            if chosen is not ALL and item.data(0, Qt.ItemDataRole.UserRole) == chosen:
                item.setSelected(True)
        self.filter_changed.emit(chosen)

    @Slot(QTreeWidgetItem, int)
    def _on_row_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        self.set_filter(item.data(0, Qt.ItemDataRole.UserRole))


def _row(name: str, count: int, class_index: int) -> QTreeWidgetItem:
    item = QTreeWidgetItem([name, f"{count:,}"])
    item.setData(0, Qt.ItemDataRole.UserRole, class_index)
    item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    item.setToolTip(0, f"{name}: {count:,} images (click to show only them)")
    return item
