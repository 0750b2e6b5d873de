"""The mouse wheel scrolls forms; it never edits a field the person has not focused.

One application-wide event filter (installed by `create_application` and by the main window, so every form of
every view is covered, including ones added later): a wheel event over a spin box, combo box or slider that
does not have the keyboard focus is handed to the nearest scroll area around it, which scrolls, and the field
keeps its value. A focused field still takes the wheel (click or Tab into it first), as in most desktop apps.

Qt gives a `Qt.WheelFocus` widget the focus *before* event filters see the wheel event, so the filter also
lowers such fields to `Qt.StrongFocus` when they are polished (first shown).
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QScrollBar,
    QWidget,
)

GUARDED = (QAbstractSpinBox, QComboBox, QAbstractSlider)  # fields the wheel would edit
_PROPERTY = "_ddpm_studio_wheel_guard"


def guarded_field(obj: QObject | None) -> QWidget | None:
    """The spin box, combo box or slider that `obj` is (or is part of: a spin box's line edit), else None."""
    for candidate in (obj, obj.parent() if obj is not None else None):
        if isinstance(candidate, GUARDED) and not isinstance(candidate, QScrollBar):
            return candidate
    return None


def scroll_area_around(widget: QWidget) -> QAbstractScrollArea | None:
    """The nearest scroll area that contains `widget` (a form's QScrollArea, a list, a tree), else None."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea) and parent.viewport().isAncestorOf(widget):
            return parent
        parent = parent.parentWidget()
    return None


class WheelGuard(QObject):
    """Application event filter: wheel over an unfocused field scrolls the form instead."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Polish:
            field = guarded_field(obj)
            if field is obj and field.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            return False
        if kind != QEvent.Type.Wheel:
            return False
        field = guarded_field(obj)
        if field is None or _has_focus(field):
            return False
        area = scroll_area_around(field)
        if area is not None:
            QCoreApplication.sendEvent(area.viewport(), event.clone())
        return True  # the field never sees it


def _has_focus(field: QWidget) -> bool:
    """Whether `field` or a part of it (an editable combo box's line edit) has the keyboard focus."""
    focus = QApplication.focusWidget()
    return field.hasFocus() or (focus is not None and field.isAncestorOf(focus))


def install_wheel_guard(app: QCoreApplication | None = None) -> WheelGuard:
    """Install the guard on `app` (default: the running application) once; returns it."""
    app = app or QCoreApplication.instance()
    if app is None:
        raise RuntimeError("install_wheel_guard needs a QApplication")
    existing = app.property(_PROPERTY)
    if isinstance(existing, WheelGuard):
        return existing
    guard = WheelGuard(app)
    app.installEventFilter(guard)
    app.setProperty(_PROPERTY, guard)
    return guard
