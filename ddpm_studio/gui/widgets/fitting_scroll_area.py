"""The window's scroll area: it scrolls only when a view's *minimum* size does not fit.

QScrollArea (widgetResizable) sizes content whose layout has height-for-width (any word-wrapped label, e.g.
the Dataset tab's start-here line) to its *preferred* height for the width: at 1024×700 that was 727 px for
a window with 659 px of room, so the whole window scrolled and the Training tab's Start button fell below the
fold (issue 13 items 2/23). Here the content's layout reports no height-for-width, so the content is fitted
to the viewport whenever its minimum size fits, and the views lay out their wrapped labels inside that.
"""

from __future__ import annotations

from PySide6.QtWidgets import QScrollArea, QTabWidget, QVBoxLayout, QWidget


class _MinimumFitLayout(QVBoxLayout):
    """A vertical box whose height is never derived from its items' preferred heights for a width."""

    def hasHeightForWidth(self) -> bool:
        return False


class FittingScrollArea(QScrollArea):
    """A frameless scroll area around `widgets` (a QTabWidget among them takes the spare height)."""

    def __init__(self, *widgets: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        content = QWidget()
        layout = _MinimumFitLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        for widget in widgets:
            layout.addWidget(widget, 1 if isinstance(widget, QTabWidget) else 0)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setWidgetResizable(True)
        self.setWidget(content)
