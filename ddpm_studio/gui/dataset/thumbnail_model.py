"""A list model of a data source's images whose thumbnails are decoded lazily in a thread pool.

Rows are the source's candidate images (`ImageSource.keys()`). A thumbnail is requested the first time a
view asks for a row's decoration, decoded by a pool job (newest request first, so the visible screen
wins while scrolling) and cached as a QPixmap made on the GUI thread. A second background job checks
every image (the count of valid ones, sizes, modes and the problems list) and reports snapshots.
Stale work is cancelled when the source changes: both `PoolJobs` begin a new generation, so queued jobs are
dropped, running ones stop, and answers of the older generation never arrive.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap

from ddpm_studio.app.data_proposal import is_grey, original_mode
from ddpm_studio.data.decode import ImageDecodeError
from ddpm_studio.data.problems import Problem
from ddpm_studio.data.sources import ImageSource
from ddpm_studio.gui.jobs.pool_jobs import PoolJobs
from ddpm_studio.gui.widgets.image_utils import thumbnail_qimage

log = logging.getLogger(__name__)

THUMB_SIZE = 96  # px, the longest side of a thumbnail
CACHE_LIMIT = 3000  # thumbnails kept (about 110 MiB at most)
SUMMARY_INTERVAL_S = 0.2  # how often the background check reports progress
FIRST_VALID_REPORT = 4  # also report as soon as this many valid images are known (the first selection waits on it)
INDEX_ROLE = Qt.ItemDataRole.UserRole + 1  # the row's index into the source


@dataclass(frozen=True)
class ScanSummary:
    """A snapshot of the background check of every candidate image."""

    total: int  # candidate images
    checked: int  # decoded so far
    valid: int  # decoded without error
    sizes: tuple[tuple[tuple[int, int], int], ...] = ()  # ((w, h), count), most common first
    modes: tuple[tuple[str, int], ...] = ()  # (the file's own mode, count), most common first
    problems: tuple[Problem, ...] = ()  # skipped files with their reasons
    done: bool = False
    bad_rows: frozenset[int] = field(default_factory=frozenset)
    grey: int = 0  # valid images without colour (app.data_proposal.is_grey)


def decode_thumbnail(source: ImageSource, row: int, should_stop: Callable[[], bool],
                     report: Callable[[tuple[int, QImage | None, str]], None]) -> None:
    """A pool job: the thumbnail of `row` as (row, QImage | None, reason)."""
    if should_stop():
        return  # the source changed while this waited
    image, reason = None, ""
    try:
        image = thumbnail_qimage(source.load(row, min_size=THUMB_SIZE), THUMB_SIZE)
    except ImageDecodeError as exc:
        reason = exc.reason
    except Exception as exc:  # a source bug is shown on the tile and logged
        log.exception("thumbnail %d failed", row)
        reason = f"{type(exc).__name__}: {exc}"
    report((row, image, reason))


def scan_images(source: ImageSource, should_stop: Callable[[], bool],
                report: Callable[[ScanSummary], None]) -> None:
    """A pool job: decode every candidate once to count valid images, sizes, modes, problems; ScanSummary
    snapshots as it goes (the last one `done`)."""
    keys = source.keys()
    sizes: Counter = Counter()
    modes: Counter = Counter()
    problems: list[Problem] = list(getattr(source, "problems", []) or [])
    problems += skipped_files(source, cancel=should_stop)
    bad_rows: set[int] = set()
    valid, grey, last = 0, 0, 0.0
    for index, key in enumerate(keys):
        if should_stop():
            return
        try:
            image = source.load(index)
            sizes[image.size] += 1
            modes[original_mode(image)] += 1  # the file's own mode (RGBA, CMYK, I;16, ...), not the decoded one
            grey += is_grey(image)
            valid += 1
        except ImageDecodeError as exc:
            problems.append(Problem(key, exc.reason))
            bad_rows.add(index)
        except Exception as exc:  # noqa: BLE001 - any undecodable file is a listed problem, not a crash
            problems.append(Problem(key, f"{type(exc).__name__}: {exc}"))
            bad_rows.add(index)
        now = time.monotonic()
        first_valid = valid == FIRST_VALID_REPORT and index not in bad_rows
        if now - last >= SUMMARY_INTERVAL_S or index == len(keys) - 1 or first_valid:
            last = now
            report(_summary(len(keys), index + 1, valid, grey, sizes, modes, problems, bad_rows,
                            index == len(keys) - 1))
    if not keys:
        report(_summary(0, 0, 0, 0, sizes, modes, problems, bad_rows, True))


def _summary(total, checked, valid, grey, sizes, modes, problems, bad_rows, done) -> ScanSummary:
    return ScanSummary(total=total, checked=checked, valid=valid, sizes=tuple(sizes.most_common()),
                       modes=tuple(modes.most_common()), problems=tuple(problems), done=done,
                       bad_rows=frozenset(bad_rows), grey=grey)


def skipped_files(source: ImageSource, cancel=None) -> list[Problem]:
    """Files of a folder source that are not candidates because of their type (e.g. notes.txt), as the data
    layer's one folder scan found them (data.sources.scan_folder: the same hidden-file rule as training)."""
    return list(getattr(source, "other_files", []) or [])


class ThumbnailModel(QAbstractListModel):
    """Rows = candidate images of the current source; DecorationRole = lazily decoded thumbnail."""

    summary_changed = Signal(object)  # ScanSummary
    thumbnail_ready = Signal(int)  # row

    def __init__(self, parent: QObject | None = None, *, threads: int = 2) -> None:
        super().__init__(parent)
        self._thumbnails = PoolJobs(self, threads=threads)
        self._thumbnails.answered.connect(self._on_thumbnail)
        self._scan = PoolJobs(self)
        self._scan.answered.connect(self._on_summary)
        self.source: ImageSource | None = None
        self.summary = ScanSummary(0, 0, 0, done=True)
        self._keys: list[str] = []
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()
        self._failed: dict[int, str] = {}
        self._pending: set[int] = set()
        self._priority = itertools.count()
        self._placeholder: QPixmap | None = None
        self._broken: QPixmap | None = None

    # -- source ------------------------------------------------------------------------------
    def set_source(self, source: ImageSource | None) -> None:
        """Show `source` (None: empty); cancels all work for the previous one."""
        self._thumbnails.renew()
        self._scan.renew()
        self.beginResetModel()
        self.source = source
        self._keys = source.keys() if source is not None else []
        self._cache.clear()
        self._failed.clear()
        self._pending.clear()
        self.endResetModel()
        self.summary = ScanSummary(len(self._keys), 0, 0, done=source is None)
        self.summary_changed.emit(self.summary)
        if source is not None:
            self._scan.submit(partial(scan_images, source))

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Cancel everything and wait for running tasks (call before the application quits)."""
        self._thumbnails.shutdown(timeout_s)
        self._scan.shutdown(timeout_s)

    # -- Qt model ----------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 (Qt signature)
        return 0 if parent.isValid() else len(self._keys)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._keys):
            return None
        row = index.row()
        if role == Qt.ItemDataRole.DisplayRole:
            return os.path.basename(self._keys[row])
        if role == Qt.ItemDataRole.ToolTipRole:
            reason = self._failed.get(row)
            return f"{self._keys[row]}\n{reason}" if reason else self._keys[row]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._decoration(row)
        if role == INDEX_ROLE:
            return row
        return None

    def key(self, row: int) -> str:
        """The candidate's name (relative path) at `row`."""
        return self._keys[row]

    def is_cached(self, row: int) -> bool:
        """Whether the thumbnail of `row` is decoded (or failed)."""
        return row in self._cache or row in self._failed

    # -- thumbnails --------------------------------------------------------------------------
    def _decoration(self, row: int) -> QPixmap:
        pixmap = self._cache.get(row)
        if pixmap is not None:
            self._cache.move_to_end(row)
            return pixmap
        if row in self._failed:
            return self._broken_pixmap()
        if row not in self._pending and self.source is not None:
            self._pending.add(row)
            # newest request first: a higher priority starts earlier, so the visible page wins
            self._thumbnails.submit(partial(decode_thumbnail, self.source, row), next(self._priority) % 2**30)
        return self._placeholder_pixmap()

    @Slot(object)
    def _on_thumbnail(self, answer: tuple[int, QImage | None, str]) -> None:
        row, image, reason = answer
        self._pending.discard(row)
        if image is None:
            self._failed[row] = reason
        else:
            self._cache[row] = QPixmap.fromImage(image)  # GUI thread
            while len(self._cache) > CACHE_LIMIT:
                self._cache.popitem(last=False)
        index = self.index(row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole])
        self.thumbnail_ready.emit(row)

    @Slot(object)
    def _on_summary(self, summary: ScanSummary) -> None:
        self.summary = summary
        self.summary_changed.emit(summary)

    def _placeholder_pixmap(self) -> QPixmap:
        if self._placeholder is None:
            self._placeholder = _tile(QColor(128, 128, 128, 60), None)
        return self._placeholder

    def _broken_pixmap(self) -> QPixmap:
        if self._broken is None:
            self._broken = _tile(QColor(200, 60, 60, 50), QColor(200, 60, 60))
        return self._broken


def _tile(fill: QColor, cross: QColor | None) -> QPixmap:
    pixmap = QPixmap(THUMB_SIZE, THUMB_SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(fill)
    painter.drawRoundedRect(4, 4, THUMB_SIZE - 8, THUMB_SIZE - 8, 8, 8)
    if cross is not None:
        painter.setPen(QPen(cross, 4))
        m = THUMB_SIZE // 3
        painter.drawLine(m, m, THUMB_SIZE - m, THUMB_SIZE - m)
        painter.drawLine(THUMB_SIZE - m, m, m, THUMB_SIZE - m)
    painter.end()
    return pixmap
