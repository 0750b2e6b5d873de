"""The Runs tab: the runs on disk in a sortable, filterable table; the selected runs' curves overlaid on the same
axes; the config diff of two. Reading the runs (their small files, then the histories of the selected ones)
goes through `app.run_table` on the pool (gui/jobs/pool_jobs.PoolJobs): the table on one, the curves on
another, so a newer selection's answer replaces an older one's and the GUI thread never reads a history."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.run_table import RunComparison, RunTable, compare_runs, run_rows
from ddpm_studio.gui.jobs.pool_jobs import PoolJobs
from ddpm_studio.gui.runs.config_diff_table import ConfigDiffTable
from ddpm_studio.gui.runs.curves_plot import RunCurvesPlot
from ddpm_studio.gui.runs.run_table_model import COLUMN_NAMES, ROW_ROLE, RunFilterProxy, RunTableModel
from ddpm_studio.training.runs import runs_root

if TYPE_CHECKING:
    from ddpm_studio.gui.state import AppState

RUNNING_REFRESH_MS = 5000  # while a listed run trains, the table reloads this often (its state, steps, minutes)


class RunsView(QWidget):
    """Runs side by side. `rows_loaded` after each table load, `comparison_shown` after each curves load."""

    rows_loaded = Signal()
    comparison_shown = Signal()

    def __init__(self, state: AppState | None = None, runs_dir: Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runs_dir = Path(runs_dir) if runs_dir is not None else None
        self.model = RunTableModel(self)
        self.proxy = RunFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._table_jobs, self._curve_jobs = PoolJobs(self), PoolJobs(self)
        self._table_jobs.answered.connect(self._on_rows)
        self._curve_jobs.answered.connect(self._on_comparison)
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(RUNNING_REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        if state is not None:
            state.run_changed.connect(lambda _path: self.refresh())  # a run trained or opened: its row changed

    @property
    def runs_dir(self) -> Path:
        return self._runs_dir if self._runs_dir is not None else runs_root()

    def _build(self) -> None:
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("filter: any text of a row (name, data, state, objective, …)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.set_phrase)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.status = QLabel("")
        self.status.setStyleSheet("color: #666;")
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.refresh_button)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMN_NAMES.index("modified"), Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("Select several runs (Ctrl/Shift-click) to overlay their curves; two to diff them.")
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.curves = RunCurvesPlot()
        self.diff = ConfigDiffTable()
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.curves)
        lower.addWidget(self.diff)
        lower.setSizes([980, 300])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setSizes([200, 560])  # a table of ~6 rows above the plots
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)

    # -- loading ------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the table from the runs folder (on the pool)."""
        root = self.runs_dir
        self._table_jobs.renew()
        self._table_jobs.submit(lambda should_stop, report: report(run_rows(root)))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        self._timer.stop()
        self._table_jobs.shutdown(timeout_s)
        self._curve_jobs.shutdown(timeout_s)

    def _on_rows(self, table: RunTable) -> None:
        chosen = set(self.selected_names())
        self.model.set_rows(table.rows)
        self._select(chosen)
        running = sum(row.state == "running" for row in table.rows)
        text = f"{len(table.rows)} run(s) in {self.runs_dir}" + (f", {running} training" if running else "")
        if table.skipped:
            text += f"; skipped {len(table.skipped)}: " + "; ".join(table.skipped[:2])
        self.status.setText(text)
        self.status.setToolTip("\n".join(table.skipped))
        (self._timer.start if running and self.isVisible() else self._timer.stop)()
        self.rows_loaded.emit()

    def _select(self, names: set[str]) -> None:
        """Select the rows of these runs again after a reload (the curves are then reloaded too)."""
        selection = self.table.selectionModel()
        selection.blockSignals(True)
        selection.clearSelection()
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(ROW_ROLE).name in names:
                selection.select(index, QItemSelectionModel.SelectionFlag.Select
                                 | QItemSelectionModel.SelectionFlag.Rows)
        selection.blockSignals(False)
        self.table.viewport().update()
        self._on_selection()

    # -- selection ------------------------------------------------------------------------------------------
    def selected_names(self) -> list[str]:
        """The selected runs, top to bottom as the table shows them (the curves' colours follow this order)."""
        rows = sorted(self.table.selectionModel().selectedRows(), key=lambda index: index.row())
        return [index.data(ROW_ROLE).name for index in rows]

    def select_runs(self, names: list[str]) -> None:
        """Select these runs (as a person would with Ctrl-click)."""
        self._select(set(names))

    def _on_selection(self, *_args) -> None:
        rows = sorted(self.table.selectionModel().selectedRows(), key=lambda index: index.row())
        paths = [index.data(ROW_ROLE).path for index in rows]
        self._curve_jobs.renew()
        self._curve_jobs.submit(lambda should_stop, report: report(compare_runs(paths)))

    def _on_comparison(self, comparison: RunComparison) -> None:
        self.curves.show_curves(comparison.curves)
        self.diff.show_difference(comparison.pair, comparison.differences)
        if comparison.problems:
            self.status.setText("could not read " + "; ".join(comparison.problems))
        self.comparison_shown.emit()
