"""The mouse wheel scrolls a form; it never edits a spin box, combo box or slider the person has not focused."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QComboBox, QFormLayout, QScrollArea, QSlider, QSpinBox, QWidget

from ddpm_studio.gui.widgets.wheel_guard import install_wheel_guard


def wheel(widget: QWidget, notches: int = -1) -> None:
    """A wheel turn over the middle of `widget` (negative: towards the person, i.e. scroll down)."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 * notches), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


@pytest.fixture
def form(qtbot):
    install_wheel_guard()
    inner = QWidget()
    layout = QFormLayout(inner)
    fields = []
    for i in range(30):
        spin = QSpinBox()
        spin.setRange(0, 1000)
        spin.setValue(1)
        layout.addRow(f"field {i}", spin)
        fields.append(spin)
    combo, slider = QComboBox(), QSlider(Qt.Orientation.Horizontal)
    combo.addItems(["a", "b", "c"])
    slider.setRange(0, 100)
    slider.setValue(50)
    layout.addRow("combo", combo)
    layout.addRow("slider", slider)
    area = QScrollArea()
    area.setWidget(inner)
    area.setWidgetResizable(True)
    area.resize(300, 200)
    qtbot.addWidget(area)
    area.show()
    qtbot.waitExposed(area)
    return area, fields, combo, slider


def test_wheel_over_an_unfocused_spin_box_scrolls_the_form_and_keeps_the_value(form):
    area, fields, _combo, _slider = form
    assert area.verticalScrollBar().value() == 0
    wheel(fields[2])
    assert fields[2].value() == 1
    assert area.verticalScrollBar().value() > 0  # the form scrolled instead


def test_wheel_over_unfocused_combo_box_and_slider_leaves_them(form):
    _area, _fields, combo, slider = form
    wheel(combo)
    wheel(slider)
    assert combo.currentIndex() == 0
    assert slider.value() == 50


def test_a_focused_spin_box_still_takes_the_wheel(qtbot, form):
    _area, fields, _combo, _slider = form
    fields[0].setFocus()
    qtbot.waitUntil(fields[0].hasFocus)
    wheel(fields[0], notches=1)
    assert fields[0].value() == 2


def test_fields_no_longer_take_focus_from_the_wheel(form):
    _area, fields, combo, _slider = form
    assert fields[0].focusPolicy() == Qt.FocusPolicy.StrongFocus
    assert combo.focusPolicy() == Qt.FocusPolicy.StrongFocus
