"""The sampler view's picture area: one row per lane with x_t, the predicted x̂₀ and the predicted noise ε̂.

Each row is a title (the lane's label and step count) above three `ImagePane`s; the ε̂ pane shows only
when the user asks for it. At the last step the predicted x̂₀ is the final image itself, so its pane hides
and the final image takes the row's space (scrubbing back shows both again). Rows are made on demand
and hidden, never deleted, when a run has fewer lanes, so switching
between one lane and a comparison costs no widget churn. A lane asked for "all classes" shows one row of images
per class, each named at the left of the x_t pane (`set_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from ddpm_studio.app import exports as export
from ddpm_studio.app.sampling import SampleFrame
from ddpm_studio.gui.sampler.animation import ImagePane


class SamplerLanes(QWidget):
    """Rows of (title, x_t pane, x̂₀ pane, ε̂ pane), one per lane of a sampling run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.panes: list[tuple[QLabel, ImagePane, ImagePane, ImagePane]] = []
        self._rows: tuple[tuple[str, ...], ...] = ()  # per lane: the class of each image row, or ()
        self._show_eps = False
        self.ensure(1)

    def ensure(self, count: int) -> None:
        """Show exactly `count` rows, making the missing ones."""
        while len(self.panes) < count:
            row = QWidget()
            layout = QGridLayout(row)
            layout.setContentsMargins(0, 0, 0, 0)
            title = QLabel()
            panes = (ImagePane("x_t"), ImagePane("predicted x̂₀"), ImagePane("predicted noise ε̂"))
            layout.addWidget(title, 0, 0, 1, 3)
            for i, pane in enumerate(panes):
                layout.addWidget(pane, 1, i)
                layout.setColumnStretch(i, 1)
            layout.setRowStretch(1, 1)
            self._layout.addWidget(row, 1)
            self.panes.append((title, *panes))
        for i, (title, *_panes) in enumerate(self.panes):
            title.parentWidget().setVisible(i < count)
        self._layout_eps()

    def set_titles(self, labels: Sequence[str], num_steps: Sequence[int]) -> None:
        """Title each row with its lane's label and number of sampler steps."""
        for (title, *_), label, steps in zip(self.panes, labels, num_steps):
            title.setText(f"<b>{label}</b> — {steps} steps")

    def set_rows(self, rows: Sequence[Sequence[str]]) -> None:
        """Per lane, the class of each image row ("all classes"), or () for an ordinary square grid."""
        self._rows = tuple(tuple(names) for names in rows)

    def row_names(self, lane: int) -> tuple[str, ...]:
        return self._rows[lane] if lane < len(self._rows) else ()

    def set_show_eps(self, on: bool) -> None:
        """Show or hide the predicted-noise column."""
        self._show_eps = on
        self._layout_eps()

    def show_frame(self, lane: int, frame: SampleFrame | None) -> None:
        """Paint `frame` into row `lane` (nothing to do for None)."""
        if frame is None:
            return
        _title, xt_pane, x0_pane, eps_pane = self.panes[lane]
        final = frame.index >= frame.num_steps - 1
        names = self.row_names(lane)
        ncols = max(1, frame.xt.shape[0] // len(names)) if names else None
        xt_pane.set_title("final image x₀" if final else f"x_t  (t = {frame.t})")
        xt_pane.set_row_labels(names, frame.xt.shape[1], export.PAD)
        xt_pane.set_image(export.tile(frame.xt, ncols=ncols))
        if x0_pane.isVisibleTo(x0_pane.parentWidget()) == final:  # identical to the final image: use the space
            x0_pane.setVisible(not final)
            x0_pane.parentWidget().layout().setColumnStretch(1, 0 if final else 1)
        x0_pane.set_image(export.tile(frame.x0, ncols=ncols))
        eps_pane.set_image(export.tile(frame.eps, ncols=ncols) if frame.eps is not None else None)

    def _layout_eps(self) -> None:
        for _title, _xt, _x0, eps_pane in self.panes:
            eps_pane.setVisible(self._show_eps)
            eps_pane.parentWidget().layout().setColumnStretch(2, 1 if self._show_eps else 0)
