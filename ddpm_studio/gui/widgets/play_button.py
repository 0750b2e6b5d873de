"""A checkable Play/Pause button drawn with Qt's standard media icons (issue 13 item 14: "▶"/"⏸" are
missing-glyph boxes in some default fonts). Its text and icon follow its checked state however that state
is set: a click, `setChecked`, or `setChecked` with the signals blocked.
"""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton, QStyle, QWidget


class PlayPauseButton(QPushButton):
    """Unchecked: "Play" with the play icon; checked (playing): "Pause" with the pause icon."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._play_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self._pause_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause)
        self.setCheckable(True)
        self.toggled.connect(self._show)  # a click (Qt skips checkStateSet while it handles one)
        self._show(False)

    def checkStateSet(self) -> None:
        """Qt's virtual, called by setChecked even with the signals blocked."""
        self._show(self.isChecked())

    def _show(self, playing: bool) -> None:
        self.setText("Pause" if playing else "Play")
        self.setIcon(self._pause_icon if playing else self._play_icon)
