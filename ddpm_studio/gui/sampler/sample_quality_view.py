"""The sampler view's quality pane: Evaluate the current samples, and each sample's nearest training images.

`SampleQualityPanel` holds the final images of the last sampling run and the data set they are measured
against (the model's training data). "Evaluate" scores them with `app.evaluation.evaluate_images` on a
TaskRunner thread (SWD, precision/recall, memorised share, each ± its bootstrap error beside its real-vs-real
floor under the same protocol, which the status line states; "≈ floor" marks a value within error of its floor
or better than it, the tooltip says which; fewer than 64 samples are warned about). Clicking a sample asks
`app.evaluation.nearest_neighbours` for its 3 nearest training images (RMS pixel distance in [-1, 1], a mirrored
match shown mirrored) and `NeighboursView` shows them with their distances and
a warning when the ratio test of Carlini et al. 2023 flags the sample as a copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.evaluation import (
    MIN_TRUSTED_SAMPLES,
    EvaluationProgress,
    ModelEvaluation,
    Neighbours,
    evaluate_images,
    format_with_error,
)
from ddpm_studio.app.neighbours import NamedNeighbours, named_neighbours, trained_with_flips
from ddpm_studio.gui.jobs.task_worker import TaskRunner
from ddpm_studio.gui.training.filmstrip import SELECTION_STYLE
from ddpm_studio.gui.widgets.image_utils import scaled_nearest, to_qpixmap

NEIGHBOURS_SHOWN = 3
TILE_PX = 96  # side of a shown image (nearest-neighbour upscaling of small samples)
THUMB_PX = 48
CAPTION_CHARS = 18  # a neighbour's file name is elided to about this many characters (the tooltip has it all)
WARNING_STYLE = "background: #fde7e9; color: #8a0015; padding: 4px;"
SHOWN_METRICS = {"swd": "SWD ×10³ ↓", "precision": "precision ↑", "recall": "recall ↑", "memorised": "memorised ↓"}


def _tile(image: np.ndarray, side: int = TILE_PX) -> QLabel:
    label = QLabel()
    label.setPixmap(scaled_nearest(to_qpixmap(image), QSize(side, side)))
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


def _short(name: str, chars: int = CAPTION_CHARS) -> str:
    """The file's own name (no folders), elided in the middle past `chars` characters."""
    base = Path(name).name or name
    return base if len(base) <= chars else f"{base[: chars // 2 - 1]}…{base[-(chars // 2):]}"


class NeighboursView(QWidget):
    """One sample beside its nearest training images, their distances, and the memorisation warning."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.hint = QLabel("Click a sample to see its nearest training images.")
        self.hint.setStyleSheet("color: #666;")
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet(WARNING_STYLE)
        self.warning_label.hide()
        self.grid.addWidget(self.hint, 0, 0, 1, NEIGHBOURS_SHOWN + 1)
        self.grid.addWidget(self.warning_label, 3, 0, 1, NEIGHBOURS_SHOWN + 1)
        self.image_labels: list[QLabel] = []
        self.caption_labels: list[QLabel] = []
        self.result: Neighbours | None = None

    def show_neighbours(self, sample: np.ndarray, result: Neighbours, names: Sequence[str] | None = None) -> None:
        """The sample (H, W, C) uint8, then each neighbour with its file name (else '#index'), 'd = 0.123' (and
        'mirrored' when the match is the mirror image)."""
        for widget in self.image_labels + self.caption_labels:
            self.grid.removeWidget(widget)
            widget.deleteLater()
        self.image_labels, self.caption_labels, self.result = [], [], result
        self.hint.setText(f"Sample and its {len(result.distances)} nearest training images "
                          "(RMS pixel distance, images in [-1, 1])")
        shown = list(names) if names is not None else [f"#{i}" for i in result.indices]
        captions = ["sample"] + [f"{_short(n)}\nd = {d:.3f}" + ("  (mirrored)" if m else "")
                                 for n, d, m in zip(shown, result.distances, result.mirrored)]
        tips = ["the sample"] + [f"{n}: RMS distance {d:.4f}" + (", matched mirrored" if m else "")
                                 for n, d, m in zip(shown, result.distances, result.mirrored)]
        for column, (image, caption, tip) in enumerate(zip([sample, *result.images], captions, tips)):
            tile, text = _tile(image), QLabel(caption)
            text.setToolTip(tip)
            text.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.grid.addWidget(tile, 1, column)
            self.grid.addWidget(text, 2, column)
            self.image_labels.append(tile)
            self.caption_labels.append(text)
        if result.memorised:
            self.warning_label.setText(
                f"Possible memorisation: the nearest training image is much closer than the rest (ratio "
                f"{result.ratio:.2f} ≤ {result.threshold:.2f}, Carlini et al. 2023): this sample looks like a copy.")
        self.warning_label.setVisible(result.memorised)

    def neighbour_count(self) -> int:
        return max(0, len(self.image_labels) - 1)


class SampleQualityPanel(QWidget):
    """Evaluate the current samples against the data set; click one for its nearest training images."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.samples: np.ndarray | None = None  # (N, H, W, C) uint8
        self.source: str | None = None
        self.checkpoint: str | Path | None = None
        self.sampler: str | None = None  # the samples' sampler and steps, for the protocol (None: not told)
        self.sampler_steps: int | None = None
        self.asked = ""  # what the samples asked for (a class, w), for the protocol
        self.evaluation: ModelEvaluation | None = None
        self.error: str | None = None
        self._clicked: int | None = None
        self._evaluator = TaskRunner("evaluate", self)
        self._finder = TaskRunner("neighbours", self)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Score these samples against the model's training data (held out where it "
                                        "can be), beside real images scored the same way")
        self.evaluate_button.setEnabled(False)
        self.status = QLabel("Sample first, then Evaluate.")
        self.status.setWordWrap(True)
        self.table = QLabel()
        self.table.setTextFormat(Qt.TextFormat.RichText)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setFlow(QListView.Flow.LeftToRight)
        self.thumbs.setWrapping(False)
        self.thumbs.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.thumbs.setStyleSheet(SELECTION_STYLE)  # a border marks the clicked sample, never a blue tint (old #11)
        # room for the icon, its number and the horizontal scroll bar of a long strip (64 samples): the bar
        # used to cover the numbers (issue 22 N13)
        bar = self.thumbs.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        self.thumbs.setFixedHeight(THUMB_PX + self.thumbs.fontMetrics().height() + bar + 2 * self.thumbs.spacing()
                                   + 2 * self.thumbs.frameWidth() + 12)
        self.neighbours = NeighboursView()
        # one height whatever the texts say (old #29: the Evaluate button and the canvas above moved as the
        # status wrapped, the table filled and the neighbours appeared): two lines of status, the table's rows,
        # the neighbours' tiles, captions and warning are reserved from the start (four lines: the count line
        # and the few-samples warning each wrap once in a 1280-wide window)
        line = self.status.fontMetrics().lineSpacing()
        self.status.setFixedHeight(4 * line + 4)
        self.table.setFixedHeight((len(SHOWN_METRICS) + 1) * (line + 6) + 8)
        self.neighbours.setFixedHeight(line + TILE_PX + 2 * line + 2 * line + 3 * 6)
        self.neighbours.grid.setRowStretch(4, 1)  # the hint, tiles and captions at the top; room below
        head = QHBoxLayout()
        head.addWidget(QLabel("<b>Quality of these samples</b>"))
        head.addWidget(self.evaluate_button)
        head.addStretch(1)
        scores = QVBoxLayout()  # the scores beside the clicked sample's neighbours: the reserved room is shared
        scores.addWidget(self.status)
        scores.addWidget(self.table)
        scores.addStretch(1)
        below = QHBoxLayout()
        below.addLayout(scores, 2)
        below.addWidget(self.neighbours, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.thumbs)
        layout.addLayout(below)
        self.evaluate_button.clicked.connect(self.evaluate)
        self.thumbs.currentRowChanged.connect(self.show_neighbours_of)
        self._evaluator.progress.connect(self._on_progress)
        self._evaluator.result.connect(self._on_evaluated)
        self._evaluator.failed.connect(self._on_failed)
        self._finder.result.connect(self._on_neighbours)
        self._finder.failed.connect(self._on_failed)

    def set_samples(self, images: np.ndarray, source: str | None = None, checkpoint: str | Path | None = None, *,
                    sampler: str | None = None, steps: int | None = None, asked: str = "") -> None:
        """The final images of a sampling run, (N, H, W, C) uint8, and the data set to measure them against
        (`source`, or the training data of `checkpoint`, read on the worker thread); `sampler` and `steps`, when
        the caller gives them, and what the images asked for (`asked`, export_names.steering_caption: 'class
        triangle, w = 2') enter the scores' protocol."""
        self.samples, self.evaluation = np.ascontiguousarray(images), None
        self.source, self.checkpoint = source, checkpoint
        self.sampler, self.sampler_steps, self.asked = sampler, steps, asked
        self.table.clear()
        self.thumbs.clear()
        for i, image in enumerate(self.samples):
            pixmap = scaled_nearest(to_qpixmap(image), QSize(THUMB_PX, THUMB_PX))
            icon = QIcon(pixmap)
            icon.addPixmap(pixmap, QIcon.Mode.Selected)  # the selected sample keeps its own colours
            item = QListWidgetItem(icon, str(i))
            self.thumbs.addItem(item)
        self.evaluate_button.setEnabled(len(self.samples) > 3)
        against = source or "the model's training data"
        few = len(self.samples) < MIN_TRUSTED_SAMPLES
        self.status.setText(f"{len(self.samples)} samples{f' ({asked})' if asked else ''} vs {against}: Evaluate, "
                            "or click one"
                            + ("" if len(self.samples) > 3 else " (Evaluate needs more than 3 samples)")
                            + (f"<br><span style='color:#7a5b00'>Fewer than {MIN_TRUSTED_SAMPLES} samples: rough "
                               "scores, comparable only at the same count.</span>" if few and len(self.samples) > 3
                               else ""))

    def is_busy(self) -> bool:
        return self._evaluator.is_running() or self._finder.is_running()

    def shutdown(self, timeout_s: float = 10.0) -> None:
        self._evaluator.shutdown(timeout_s)
        self._finder.shutdown(timeout_s)

    @Slot()
    def evaluate(self) -> None:
        if self.samples is None:
            return
        samples, source = self.samples, self._source
        sampler, steps, asked = self.sampler, self.sampler_steps, self.asked
        self.error = None
        self.evaluate_button.setEnabled(False)
        self.status.setText("evaluating …")
        self._evaluator.start(lambda should_stop, report: evaluate_images(samples, source(), on_progress=report,
                                                                          sampler=sampler, steps=steps, classes=asked))

    @Slot(int)
    def show_neighbours_of(self, index: int) -> None:
        if self.samples is None or not 0 <= index < len(self.samples):
            return
        image, source = self.samples[index], self._source
        self._clicked = index
        self.status.setText(f"finding the nearest training images of sample {index} …")
        checkpoint = self.checkpoint

        def find(should_stop, report) -> NamedNeighbours:  # the run's own flips decide the mirror search
            return named_neighbours(image, source(), NEIGHBOURS_SHOWN, include_flips=trained_with_flips(checkpoint))

        self._finder.start(find)

    def _source(self) -> str:
        """The data set to measure against (on the worker thread: reading a checkpoint's config is file work)."""
        if self.source is not None:
            return self.source
        if self.checkpoint is None:
            raise ValueError("no data set to measure against")
        return model_source(self.checkpoint)

    @Slot(object)
    def _on_progress(self, p: EvaluationProgress) -> None:
        self.status.setText(f"evaluating: {p.stage} {p.done}/{p.total}")

    @Slot(object)
    def _on_evaluated(self, result: ModelEvaluation) -> None:
        self.evaluation = result
        self.evaluate_button.setEnabled(True)
        rows = {row.metric: row for row in result.rows()}
        cells = []
        for key, label in SHOWN_METRICS.items():
            row = rows.get(key)
            if row is None:
                continue
            floor = "" if row.floor is None else format_with_error(row.floor, row.floor_error)
            mark = f" <span title='{row.note}' style='color:#7a5b00'>≈ floor</span>" if row.note else ""
            cells.append(f"<tr><td>{label}</td><td align='right'>{format_with_error(row.value, row.error)}</td>"
                         f"<td align='right'>{floor}</td><td>{mark}</td></tr>")
        self.table.setText(f"<table cellspacing='6'><tr><th></th><th>samples</th><th>real vs real</th><th></th></tr>"
                           f"{''.join(cells)}</table>")
        caption = result.protocol.caption("") if result.protocol is not None else ""
        notes = sorted({row.note for row in rows.values() if row.note and row.metric in SHOWN_METRICS})
        self.table.setToolTip(f"Measured under: {caption}; real vs real under the same counts. ± is one bootstrap "
                              "standard error." + "".join(f"\n{n}" for n in notes))
        reference = result.held_out or "a fixed subset of the data"
        warning = result.warning()
        self.status.setText(f"{caption} ({reference}); {result.seconds:.1f} s"
                            + (f"<br><span style='color:#7a5b00'>{warning}</span>" if warning else ""))

    @Slot(object)
    def _on_neighbours(self, named: NamedNeighbours) -> None:
        if self.samples is None or self._clicked is None:
            return
        result = named.neighbours
        self.neighbours.show_neighbours(self.samples[self._clicked], result, named.names)
        self.status.setText(f"sample {self._clicked}: ratio test {result.ratio:.2f} "
                            f"(a copy when ≤ {result.threshold:.2f})")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.error = message
        self.evaluate_button.setEnabled(self.samples is not None and len(self.samples) > 3)
        self.status.setText(f"<span style='color:#8a0015'>{message}</span>")


def model_source(checkpoint: str | Path) -> str:
    """The data source a checkpoint was trained on (what its samples are measured against)."""
    from ddpm_studio.app.sweep import model_data_source

    return model_data_source(checkpoint)
