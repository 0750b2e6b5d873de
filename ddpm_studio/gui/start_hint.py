"""The first-launch "start here" line: the path through the app, one click per step, dismissible.

Shown above the tabs on the first launch (QSettings key `HINT_SETTINGS_KEY` unset): see the data → watch the
forward process destroy it → train → sample (a trained demo model waits in the Sampler). Each step is a link
that opens its tab. Closing it, or quitting after the first launch, remembers that it was seen; Help → "Show
the start-here path" brings it back.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton, QWidget

HINT_SETTINGS_KEY = "hints/start_here_seen"


def hint_html(tab_names: tuple[str, ...]) -> str:
    """'Start here: 1 Dataset → 2 Forward process → ...' with each tab name a link `tab:<index>`."""
    words = ("see your images", "watch noise destroy them", "train a model",
             "a trained demo model is waiting here")
    steps = [f'<a href="tab:{i}">{name}</a> ({what})' for i, (name, what) in enumerate(zip(tab_names, words))]
    return "<b>Start here:</b> " + " → ".join(steps)


class StartHint(QFrame):
    """One line of links to the four tabs, with a close button."""

    tab_requested = Signal(int)  # the index of the tab a step's link names
    dismissed = Signal()

    def __init__(self, tab_names: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("startHint")
        self.setAccessibleName("Start here: the path through the app")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#startHint { background: palette(alternate-base); }")
        self.label = QLabel(hint_html(tab_names))
        self.label.setWordWrap(True)  # one line at the usual sizes; wraps rather than widening a narrow window
        self.label.setOpenExternalLinks(False)
        self.label.linkActivated.connect(lambda link: self.tab_requested.emit(int(link.split(":")[1])))
        self.close_button = QToolButton()
        self.close_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_TitleBarCloseButton))
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Hide this hint (Help → Show the start-here path brings it back)")
        self.close_button.setAccessibleName("Hide the start-here hint")
        self.close_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button)

    def dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()


def hint_wanted(settings: QSettings) -> bool:
    """True on the first launch (the hint was never seen)."""
    return str(settings.value(HINT_SETTINGS_KEY, "false")).lower() not in ("true", "1")


def remember_hint_seen(settings: QSettings, seen: bool = True) -> None:
    settings.setValue(HINT_SETTINGS_KEY, bool(seen))
