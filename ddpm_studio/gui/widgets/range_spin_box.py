"""A spin box that says why it refused a typed number, instead of silently putting the old value back.

QSpinBox drops keystrokes that make a number above its maximum, and on Enter or focus-out puts the last valid
value back for one below its minimum (typing T = 5 when T must be at least 10): the person is left guessing.
`RangeSpinBox` accepts any digits while typing and emits `out_of_range` with a one-line message naming the
valid range when the typed number cannot be used; the view shows it beside the field.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QSpinBox, QWidget


class RangeSpinBox(QSpinBox):
    """QSpinBox + `out_of_range(str)` when typed input is outside [minimum, maximum] (the value is unchanged)."""

    out_of_range = Signal(str)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name  # how the message names the field ("T")
        self.setKeyboardTracking(False)  # the value changes on Enter or focus-out, not at every digit typed

    def range_message(self, typed: str) -> str:
        """'T must be between 10 and 4000 (5 is not); T stays 1000.'"""
        return (f"{self.name} must be between {self.minimum()} and {self.maximum()} ({typed} is not); "
                f"{self.name} stays {self.value()}.")

    def validate(self, text: str, pos: int) -> object:
        state, text_out, pos_out = super().validate(text, pos)
        digits = self.cleanText() if text == self.text() else text.strip()
        if state == QValidator.State.Invalid and digits.isdigit():
            return QValidator.State.Intermediate, text_out, pos_out  # let it be typed; fixup explains
        return state, text_out, pos_out

    def fixup(self, text: str) -> str:
        typed = text.strip().removeprefix(self.prefix()).removesuffix(self.suffix()).strip()
        if typed:
            self.out_of_range.emit(self.range_message(typed))
        return super().fixup(text)
