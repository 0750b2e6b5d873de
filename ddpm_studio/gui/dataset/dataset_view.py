"""The dataset browser: a lazily decoded thumbnail grid, a summary (count, sizes, modes, classes), the classes
with their counts, warnings and a class filter on the thumbnails (`class_panel.py`), the problems list (skipped
files, and files no labelling rule labels), and a preview of exactly what training sees (`ImageTransform` at the
chosen size and channels, and the non-leaky augmentation of data/augment.py when it is on for a set this size).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from PySide6.QtCore import QItemSelection, QItemSelectionModel, QSize, Qt, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.data_proposal import DataProfile, propose_data_shape
from ddpm_studio.data.augment import augment, describe
from ddpm_studio.data.class_overview import ClassOverview, class_overview
from ddpm_studio.data.decode import ImageDecodeError
from ddpm_studio.data.synthetic import BUILTIN_DATASETS
from ddpm_studio.data.transforms import ImageTransform, make_grid, to_uint8
from ddpm_studio.gui.dataset.class_panel import ClassPanel
from ddpm_studio.gui.dataset.thumbnail_delegate import BorderSelectionDelegate
from ddpm_studio.gui.dataset.thumbnail_model import INDEX_ROLE, THUMB_SIZE, ScanSummary, ThumbnailModel
from ddpm_studio.gui.jobs.pool_jobs import PoolJobs
from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.widgets.elided_label import ElidedLabel
from ddpm_studio.gui.widgets.image_utils import to_qimage
from ddpm_studio.training.config import TrainingConfig, augmentation_is_on

log = logging.getLogger(__name__)

PREVIEW_SIZES = (16, 32, 64, 128, 256)
PREVIEW_MAX = 8  # selected images shown in the training preview
PREVIEW_PIXELS = 288  # on-screen size of the preview grid


def _class_overview_job(source, _should_stop: Callable[[], bool], report: Callable[[tuple], None]) -> None:
    """A pool job: the source's classes under the "auto" rules (no image decoded); answers (source, overview),
    the overview None when the labels cannot be read at all (logged)."""
    try:
        overview = class_overview(source)
    except Exception:  # an unreadable labels file must not stop the browser
        log.exception("reading the classes of %s failed", getattr(source, "spec", source))
        overview = None
    report((source, overview))


def _training_preview(source, indices: list[int], size: int, channels: int, augment_p: float | None,
                      _should_stop: Callable[[], bool], report: Callable[[tuple], None]) -> None:
    """A pool job: decode + transform the selected images exactly as the training data pipeline does (and augment
    them with probability `augment_p` per operation, a fixed seed, when not None); answers (grid, note), the grid
    (H, W, C) uint8 or None."""
    transform = ImageTransform(size, channels)
    images, skipped = [], []
    for index in indices:
        try:
            images.append(transform(source.load(index)))
        except ImageDecodeError as exc:
            skipped.append(f"{exc.name}: {exc.reason}")
        except Exception as exc:
            log.exception("preview of image %d failed", index)
            skipped.append(f"{index}: {exc}")
    note = f"{channels}×{size}×{size} float32 in [-1, 1], resized shorter side + centre crop"
    if images and augment_p is not None:
        augmented = augment(torch.stack(images), augment_p, torch.Generator().manual_seed(0))
        images = list(augmented.x)
        done = [f"{i + 1}: {', '.join(ops)}" for i, ops in enumerate(describe(augmented.labels)) if ops]
        note += (f", augmented with p = {augment_p:g} per operation (the network is told which; samples show none)"
                 f" — {'; '.join(done) if done else 'none drawn for these'}")
    grid = make_grid(np.stack([to_uint8(x) for x in images]), ncols=min(4, len(images)), pad=1) if images else None
    if skipped:
        note += "\nSkipped: " + "; ".join(skipped)
    report((grid, note))


class DatasetView(QWidget):
    """Thumbnails + summary + problems + training preview, following `AppState`."""

    open_folder_requested = Signal()
    open_archive_requested = Signal()
    source_requested = Signal(str)  # a spec such as "builtin:glyphs"

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.model = ThumbnailModel(self)
        self._syncing = False
        self._scroll_to_top = False  # a new source opens at its first row (also after its first selection)
        self._previews = PoolJobs(self)  # the newest selection wins: an older preview's answer is dropped
        self._previews.answered.connect(self._on_preview)
        self._classes = PoolJobs(self)  # the class overview of the newest source
        self._classes.answered.connect(self._on_classes)
        self.overview: ClassOverview | None = None
        self._unlabelled: tuple = ()  # Problems rows of the files no labelling rule labels
        self._build()
        self.model.summary_changed.connect(self._on_summary)
        state.source_changed.connect(self._on_source)
        state.selection_changed.connect(self._on_state_selection)
        state.data_profile_changed.connect(self._on_data_profile)
        if state.source is not None:
            self._on_source(state.source)
            self._on_state_selection(state.selected_indices)

    # -- construction --------------------------------------------------------------------------
    def _build(self) -> None:
        self.source_label = ElidedLabel("No data source")  # a long path never widens the window
        self.source_label.setAccessibleName("Current data source")
        self.folder_button = self._button("Open folder…", "Open a folder of images", self.open_folder_requested.emit)
        self.archive_button = self._button("Open archive…", "Open a .zip archive of images",
                                           self.open_archive_requested.emit)
        self.builtin_combo = QComboBox()
        self.builtin_combo.setAccessibleName("Built-in dataset")
        self.builtin_combo.setToolTip("Open a built-in synthetic dataset")
        self.builtin_combo.addItem("Built-in…")
        self.builtin_combo.addItems([f"builtin:{name}" for name in BUILTIN_DATASETS])
        self.builtin_combo.activated.connect(self._on_builtin)
        top = QHBoxLayout()
        top.addWidget(self.source_label, 1)
        top.addWidget(self.folder_button)
        top.addWidget(self.archive_button)
        top.addWidget(self.builtin_combo)

        self.list_view = QListView()
        self.list_view.setAccessibleName("Image thumbnails")
        self.list_view.setViewMode(QListView.ViewMode.IconMode)
        self.list_view.setResizeMode(QListView.ResizeMode.Adjust)
        self.list_view.setMovement(QListView.Movement.Static)
        self.list_view.setUniformItemSizes(True)
        self.list_view.setLayoutMode(QListView.LayoutMode.Batched)
        self.list_view.setBatchSize(256)
        self.list_view.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.list_view.setGridSize(QSize(THUMB_SIZE + 16, THUMB_SIZE + 28))
        self.list_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list_view.setModel(self.model)
        self.list_view.setItemDelegate(BorderSelectionDelegate(self.list_view))  # true colours, framed selection
        self.list_view.selectionModel().selectionChanged.connect(self._on_view_selection)
        self.class_panel = ClassPanel()
        self.class_panel.filter_changed.connect(self._apply_filter)
        thumbnails = QWidget()
        thumbnails_layout = QVBoxLayout(thumbnails)
        thumbnails_layout.setContentsMargins(0, 0, 0, 0)
        self.filter_row = QWidget()  # "Show: [class]" above the thumbnails, hidden with the class UI
        filter_layout = QHBoxLayout(self.filter_row)
        filter_layout.setContentsMargins(0, 0, 0, 0)
        filter_layout.addWidget(QLabel("Show:"))
        filter_layout.addWidget(self.class_panel.filter_combo)
        filter_layout.addStretch(1)
        self.class_panel.filter_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.filter_row.setVisible(False)
        thumbnails_layout.addWidget(self.filter_row)
        thumbnails_layout.addWidget(self.list_view, 1)

        self.count_label = QLabel("–")
        self.sizes_label = QLabel("–")
        self.modes_label = QLabel("–")
        self.shape_label = QLabel("–")
        self.classes_label = QLabel("–")
        for label, name in ((self.count_label, "Image count"), (self.sizes_label, "Image sizes"),
                            (self.modes_label, "Image modes"), (self.shape_label, "Proposed training shape"),
                            (self.classes_label, "Classes")):
            label.setAccessibleName(name)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        summary_box = QGroupBox("Summary")
        form = QFormLayout(summary_box)
        form.addRow("Images:", self.count_label)
        form.addRow("Sizes:", self.sizes_label)
        form.addRow("Modes:", self.modes_label)
        form.addRow("Proposed:", self.shape_label)
        form.addRow("Classes:", self.classes_label)

        self.problems = QTreeWidget()
        self.problems.setAccessibleName("Problems: skipped files and reasons")
        self.problems.setHeaderLabels(["File", "Reason"])
        self.problems.setRootIsDecorated(False)
        self.problems.setAlternatingRowColors(True)
        self.problems.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.problems.header().setStretchLastSection(True)
        self.problems.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a cut name or reason keeps both ends
        self.problems.header().setAccessibleName("Problems columns: file, reason")
        self.problems_box = QGroupBox("Problems (0)")
        QVBoxLayout(self.problems_box).addWidget(self.problems)

        preview_box = QGroupBox("What training sees")
        self.size_combo = QComboBox()
        self.size_combo.setAccessibleName("Training image size")
        self.size_combo.addItems([f"{s}×{s}" for s in PREVIEW_SIZES])
        self.size_combo.setCurrentIndex(1)
        self.channels_combo = QComboBox()
        self.channels_combo.setAccessibleName("Training channels")
        self.channels_combo.addItems(["3 (RGB)", "1 (grey)"])
        for combo in (self.size_combo, self.channels_combo):
            combo.currentIndexChanged.connect(self._request_preview)
        p = TrainingConfig().augment_p
        self.augment_box = QCheckBox("augmented")  # follows the default augment mode for the set's size
        self.augment_box.setAccessibleName("Show augmented examples")
        self.augment_box.setToolTip(f"Show the images as augmentation draws them in training (each operation with "
                                    f"probability {p:g}); on by default where training augments this data.")
        self.augment_box.toggled.connect(self._request_preview)
        self.preview_label = QLabel()
        self.preview_label.setAccessibleName("Training preview")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumSize(PREVIEW_PIXELS // 2, PREVIEW_PIXELS // 2)
        self.preview_note = QLabel()
        self.preview_note.setWordWrap(True)
        self.preview_note.setAccessibleName("Training preview description")
        preview_layout = QVBoxLayout(preview_box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Size"))
        row.addWidget(self.size_combo)
        row.addWidget(QLabel("Channels"))
        row.addWidget(self.channels_combo)
        row.addWidget(self.augment_box)
        row.addStretch(1)
        preview_layout.addLayout(row)
        preview_layout.addWidget(self.preview_label, 1)
        preview_layout.addWidget(self.preview_note)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(summary_box)
        side_layout.addWidget(self.class_panel)
        side_layout.addWidget(self.problems_box, 1)
        side_layout.addWidget(preview_box, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(thumbnails)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

    def _button(self, text: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(tip)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- public --------------------------------------------------------------------------------
    def training_size(self) -> int:
        return PREVIEW_SIZES[self.size_combo.currentIndex()]

    def training_channels(self) -> int:
        return 3 if self.channels_combo.currentIndex() == 0 else 1

    def set_banner(self, widget: QWidget) -> None:
        """Show `widget` (the window's first-launch hint) above the view's controls."""
        self.layout().insertWidget(0, widget)

    def problem_rows(self) -> list[tuple[str, str]]:
        """(file, reason) of every listed problem, as shown."""
        return [(self.problems.topLevelItem(i).text(0), self.problems.topLevelItem(i).text(1))
                for i in range(self.problems.topLevelItemCount())]

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Cancel thumbnail, scan and preview work and wait for it."""
        self.model.shutdown(timeout_s)
        self._previews.shutdown(timeout_s)
        self._classes.shutdown(timeout_s)

    # -- reactions -----------------------------------------------------------------------------
    @Slot(object)
    def _on_source(self, source) -> None:
        self.source_label.setText(f"{source.name} — {source.spec}")
        self.problems.clear()
        self.shape_label.setText("–")
        self.overview, self._unlabelled = None, ()
        self.classes_label.setText("checking…")
        self.class_panel.show_overview(None, [])
        self.filter_row.setVisible(False)
        self._classes.renew()
        self._classes.submit(partial(_class_overview_job, source))
        self.model.set_source(source)
        self._apply_filter(None)
        self.list_view.scrollToTop()
        self._scroll_to_top = True

    @Slot(int)
    def _on_builtin(self, index: int) -> None:
        if index > 0:
            self.source_requested.emit(self.builtin_combo.itemText(index))
        self.builtin_combo.setCurrentIndex(0)

    @Slot(object)
    def _on_summary(self, summary: ScanSummary) -> None:
        progress = "" if summary.done else f" (checking… {summary.checked:,} of {summary.total:,})"
        self.count_label.setText(f"{summary.valid:,} valid of {summary.total:,} candidates{progress}")
        self.sizes_label.setText(_top(summary.sizes, lambda s: f"{s[0]}×{s[1]}"))
        self.modes_label.setText(_top(summary.modes, str))
        if summary.done:  # augmentation shown where a new run's default ("auto") would train with it
            self.augment_box.setChecked(augmentation_is_on(TrainingConfig().augment, summary.valid))
        if summary.done and self.overview is not None:
            self._show_classes()  # counted again over the images that decode
        self._show_problems()
        self.state.report_scan(self.model.source, summary)  # first valid images selected, data profile

    def _show_problems(self) -> None:
        """Skipped files, then the files no labelling rule labels (each reason names the rule)."""
        rows = list(self.model.summary.problems) + list(self._unlabelled)
        if len(rows) != self.problems.topLevelItemCount():
            self.problems.clear()
            self.problems.addTopLevelItems([_problem_item(p.name, p.reason) for p in rows])
            self._size_problem_columns()
        self.problems_box.setTitle(f"Problems ({len(rows)})")

    def _class_keys(self) -> list[str]:
        """The keys the classes are counted over: the images that decode once the check is done, else all."""
        bad = self.model.summary.bad_rows if self.model.summary.done else frozenset()
        return [self.model.key(r) for r in range(self.model.rowCount()) if r not in bad]

    @Slot(object)
    def _on_classes(self, answer: tuple) -> None:
        source, overview = answer
        if source is not self.model.source:
            return
        self.overview = overview
        self._show_classes()
        self._show_problems()

    def _show_classes(self) -> None:
        overview = self.overview
        keys = self._class_keys()
        self.classes_label.setText("–" if overview is None else overview.describe())
        self.classes_label.setToolTip("" if overview is None else "\n".join(overview.warnings(keys)))
        self._unlabelled = () if overview is None else overview.unlabelled(keys)
        self.class_panel.show_overview(overview, keys)
        self.filter_row.setVisible(overview is not None and overview.labelled)

    @Slot(object)
    def _apply_filter(self, class_index: int | None) -> None:
        """Only the thumbnails of class `class_index` (None: every thumbnail)."""
        rows = self.model.rowCount()
        if class_index is None or self.overview is None:
            for row in range(rows):
                self.list_view.setRowHidden(row, False)
            return
        keys = [self.model.key(r) for r in range(rows)]
        shown = set(self.overview.rows(keys, class_index))
        for row in range(rows):
            self.list_view.setRowHidden(row, row not in shown)
        self.list_view.scrollToTop()

    def visible_rows(self) -> list[int]:
        """The thumbnail rows the class filter shows."""
        return [r for r in range(self.model.rowCount()) if not self.list_view.isRowHidden(r)]

    @Slot(object)
    def _on_data_profile(self, profile: DataProfile) -> None:
        """What training sees follows the data: the proposed size and channels (default preset)."""
        shape = propose_data_shape(profile, sizes=PREVIEW_SIZES)
        self.shape_label.setText(f"{shape.image_size}×{shape.image_size}, "
                                 f"{'1 channel (grey)' if shape.channels == 1 else '3 channels (RGB)'}")
        self.shape_label.setToolTip(f"Proposed {shape.reason}. The Training tab starts from it.")
        for combo in (self.size_combo, self.channels_combo):
            combo.blockSignals(True)
        self.size_combo.setCurrentIndex(PREVIEW_SIZES.index(shape.image_size))
        self.channels_combo.setCurrentIndex(0 if shape.channels == 3 else 1)
        for combo in (self.size_combo, self.channels_combo):
            combo.blockSignals(False)
        self._request_preview()

    def _size_problem_columns(self) -> None:
        """The file column as wide as its names, but never more than 40 % of the list (reasons stay visible)."""
        self.problems.resizeColumnToContents(0)
        most = max(80, int(self.problems.viewport().width() * 0.4))
        self.problems.setColumnWidth(0, min(self.problems.columnWidth(0), most))

    @Slot()
    def _on_view_selection(self, *_args) -> None:
        if self._syncing:
            return
        rows = [index.data(INDEX_ROLE) for index in self.list_view.selectionModel().selectedIndexes()]
        self._syncing = True  # the state's echo must not move the current image (and scroll back to it, N6)
        try:
            self.state.set_selection(rows)
        finally:
            self._syncing = False
        self._request_preview()

    @Slot(list)
    def _on_state_selection(self, indices: list[int]) -> None:
        if self._syncing:
            return  # our own selection, coming back from the state
        self._syncing = True
        try:
            selection = QItemSelection()
            for row in indices:
                index = self.model.index(row)
                selection.select(index, index)
            self.list_view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            if indices:
                self.list_view.selectionModel().setCurrentIndex(self.model.index(indices[0]),
                                                                QItemSelectionModel.SelectionFlag.NoUpdate)
        finally:
            self._syncing = False
        if self._scroll_to_top and indices:
            self._scroll_to_top = False
            self.list_view.scrollToTop()  # making the first image current must not scroll the first row away
        self._request_preview()

    @Slot()
    def _request_preview(self, *_args) -> None:
        self._previews.renew()
        source, indices = self.state.source, self.state.selected_indices[:PREVIEW_MAX]
        if source is None or not indices:
            self.preview_label.clear()
            self.preview_note.setText("Select images to see them as the network will.")
            return
        augment_p = TrainingConfig().augment_p if self.augment_box.isChecked() else None
        self._previews.submit(partial(_training_preview, source, indices, self.training_size(),
                                      self.training_channels(), augment_p))

    @Slot(object)
    def _on_preview(self, answer: tuple) -> None:
        grid, note = answer
        self.preview_note.setText(note)
        if grid is None:
            self.preview_label.clear()
            return
        image = to_qimage(grid)
        scale = max(1, PREVIEW_PIXELS // max(image.width(), image.height()))
        self.preview_label.setPixmap(upscaled_pixmap(image, scale))
        self.preview_label.setProperty("preview", image)


def upscaled_pixmap(image: QImage, scale: int) -> QPixmap:
    """Integer nearest-neighbour upscaling (crisp pixels) into a QPixmap (GUI thread)."""
    return QPixmap.fromImage(image.scaled(image.width() * scale, image.height() * scale,
                                          Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))


def _problem_item(name: str, reason: str) -> QTreeWidgetItem:
    """A problems row; the tooltips carry the whole name and reason however the columns cut them."""
    item = QTreeWidgetItem([name, reason])
    item.setToolTip(0, name)
    item.setToolTip(1, f"{name}\n{reason}")
    return item


def _top(pairs, fmt, limit: int = 4) -> str:
    """'32×32 (120), 64×48 (3) and 2 more' from ((value, count), ...)."""
    if not pairs:
        return "–"
    shown = ", ".join(f"{fmt(value)} ({count:,})" for value, count in pairs[:limit])
    return shown + (f" and {len(pairs) - limit} more" if len(pairs) > limit else "")
