"""The "Per-image losses…" window of the Training tab: every training image of the open run scored at fixed noise
and timesteps (`app.per_image_losses.per_image_report`, on a `TaskRunner` thread with progress and Cancel), as
a sortable table with thumbnails, highest loss first, and the near-duplicate pairs of the data below it.

The view only shows what the task returns: the table rows, the pairs and the images (uint8 arrays, made into
pixmaps here, on the GUI thread)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.near_duplicates import DUPLICATE_FACTOR
from ddpm_studio.app.per_image_losses import LossProgress, PerImageReport, losses_csv, per_image_report
from ddpm_studio.atomic import atomic_write_text
from ddpm_studio.gui.jobs.task_worker import TaskRunner
from ddpm_studio.gui.training.loss_table_model import (
    SPLIT_COLUMN,
    THUMBNAIL_SIDE,
    DuplicatePairsModel,
    LossTableModel,
    SortProxy,
    Thumbnails,
)
from ddpm_studio.gui.widgets.save_dialog import ask_save_path

CLASS_COLUMN, MEAN_COLUMN = 1, 2
STAGE_WORDS = {"loading data": "Loading the training images", "scoring": "Scoring images",
               "near-duplicates": "Looking for near-duplicate pairs"}
INTRO = ("Each training image's loss at the same fixed noise and timesteps (the run's own loss, EMA weights): "
         "broken, mislabelled and unusual images come first. Click a column to sort.")


def _table(model, parent: QWidget) -> QTableView:
    view = QTableView(parent)
    view.setModel(model)
    view.setIconSize(QSize(THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    view.verticalHeader().setDefaultSectionSize(THUMBNAIL_SIDE + 6)
    view.verticalHeader().hide()
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    return view


class PerImageLossesDialog(QDialog):
    """Per-image losses of one run (a run folder or checkpoint file); `start()` computes them."""

    def __init__(self, run: str | Path, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run = Path(run)
        self._settings = settings
        self.report: PerImageReport | None = None
        self._cancelled = False
        self.setWindowTitle(f"Per-image losses — {self.run.name}")
        self.resize(900, 720)
        self._runner = TaskRunner("per-image losses", self)
        self._build()
        self._runner.progress.connect(self._on_progress)
        self._runner.result.connect(self._on_result)
        self._runner.failed.connect(self._on_failed)
        self._runner.finished.connect(self._update_buttons)
        self._update_buttons()

    def _build(self) -> None:
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status_label = QLabel()
        self.compute_button = QPushButton("Compute")
        self.cancel_button = QPushButton("Cancel")
        self.export_button = QPushButton("Export CSV…")
        self.close_button = QPushButton("Close")
        self.compute_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self._export)
        self.close_button.clicked.connect(self.close)
        self.model = LossTableModel(self)
        self.proxy = SortProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = _table(self.proxy, self)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.pairs_model = DuplicatePairsModel(self)
        self.pairs_table = _table(self.pairs_model, self)
        self.pairs_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.pairs_label = QLabel(f"Near-duplicate pairs (closer than {DUPLICATE_FACTOR:g} × the median "
                                  "nearest-neighbour distance, the memorisation check's RMS pixel distance)")
        self.pairs_label.setWordWrap(True)
        pairs_box = QWidget()
        pairs_layout = QVBoxLayout(pairs_box)
        pairs_layout.setContentsMargins(0, 0, 0, 0)
        pairs_layout.addWidget(self.pairs_label)
        pairs_layout.addWidget(self.pairs_table)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(pairs_box)
        split.setSizes([480, 180])
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.status_label)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.compute_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.summary_label)
        layout.addLayout(progress_row)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)

    # -- public -------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._runner.is_running()

    @Slot()
    def start(self) -> None:
        """Score the run's images (and look for near-duplicates) on a worker thread."""
        run = self.run

        def task(should_stop, report) -> PerImageReport:
            return per_image_report(run, duplicates=True, device="auto", should_stop=should_stop,
                                    on_progress=report)

        self.status_label.setStyleSheet("")
        self.status_label.setText("Starting …")
        self.progress.setRange(0, 0)
        self._cancelled = False
        self._runner.start(task)
        self._update_buttons()

    @Slot()
    def cancel(self) -> None:
        if not self._runner.is_running():
            return
        self._cancelled = True
        self._runner.cancel()
        self.status_label.setText("Cancelling …")

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        return self._runner.shutdown(timeout_s)

    def closeEvent(self, event) -> None:  # Qt's name
        self._runner.shutdown()
        super().closeEvent(event)

    # -- slots --------------------------------------------------------------------------------------
    @Slot(object)
    def _on_progress(self, p: LossProgress) -> None:
        self.progress.setRange(0, max(1, p.total))
        self.progress.setValue(p.done)
        self.status_label.setText(STAGE_WORDS.get(p.stage, p.stage))

    @Slot(object)
    def _on_result(self, report: PerImageReport) -> None:
        self.report = report
        losses = report.losses
        thumbnails = Thumbnails(report.images)
        self.model.set_rows(losses.rows, losses.timesteps, losses.median(), thumbnails)
        self.table.setColumnHidden(CLASS_COLUMN, all(row.label is None for row in losses.rows))
        self.table.setColumnHidden(SPLIT_COLUMN, losses.held_out_count == 0)
        self.table.sortByColumn(MEAN_COLUMN, Qt.SortOrder.DescendingOrder)
        self.table.resizeColumnsToContents()
        ts = ", ".join(str(t) for t in losses.timesteps)
        split = losses.split_summary()
        self.summary_label.setText(f"<b>{losses.checkpoint.name}</b> (step {losses.step}): {losses.objective} "
                                   f"objective, {losses.loss} loss at t = {ts}; median loss {losses.median():.4f}"
                                   + (f"<br>{split}" if split else ""))
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if losses.complete else 0)
        if losses.complete:
            self.status_label.setText(f"{len(losses.rows)} images")
        else:
            self.status_label.setText(f"Cancelled after {len(losses.rows)} of {losses.total} images")
        duplicates = report.duplicates
        self.pairs_model.set_pairs(duplicates.pairs if duplicates else (), thumbnails)
        if duplicates is not None:
            self.pairs_label.setText(duplicates.describe())
        self._update_buttons()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        if self._cancelled:  # cancelled while the data was loading: nothing to show, nothing went wrong
            self.status_label.setText("Cancelled")
            return
        self.status_label.setStyleSheet("color: #b00020;")
        self.status_label.setText(message)

    def _export(self) -> None:
        if self.report is None:
            return
        path = ask_save_path(self, self._settings, "Export the per-image losses", f"{self.run.name}-losses.csv",
                             "CSV files (*.csv)", ".csv")
        if path is None:
            return
        try:
            atomic_write_text(path, losses_csv(self.report.losses), what="the CSV file")
        except OSError as exc:
            self._on_failed(f"Cannot write {path.name}: {exc}")

    def _update_buttons(self) -> None:
        running = self._runner.is_running()
        self.compute_button.setEnabled(not running)
        self.compute_button.setText("Compute again" if self.report is not None else "Compute")
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(not running and self.report is not None)
