"""The window's scroll area scrolls only when a view's minimum size does not fit (issue 13 items 2/23)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from ddpm_studio.gui.widgets.fitting_scroll_area import FittingScrollArea


def _page_with_a_wrapped_label() -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    label = QLabel("a long line that wraps " * 30)
    label.setWordWrap(True)  # height-for-width: its preferred height for a width is far above its minimum
    layout.addWidget(label)
    big = QWidget()
    big.setMinimumHeight(150)
    layout.addWidget(big)
    return page


def test_content_fits_the_viewport_whenever_its_minimum_fits(qtbot):
    tabs = QTabWidget()
    tabs.addTab(_page_with_a_wrapped_label(), "wrapped")
    area = FittingScrollArea(tabs)
    qtbot.addWidget(area)
    area.resize(400, 300)
    area.show()
    qtbot.waitExposed(area)
    assert tabs.minimumSizeHint().height() <= area.viewport().height()
    assert area.verticalScrollBar().maximum() == 0
    assert area.widget().height() == area.viewport().height()


def test_content_scrolls_when_its_minimum_does_not_fit(qtbot):
    tabs = QTabWidget()
    tabs.addTab(_page_with_a_wrapped_label(), "wrapped")
    area = FittingScrollArea(tabs)
    qtbot.addWidget(area)
    area.resize(400, 120)
    area.show()
    qtbot.waitExposed(area)
    assert area.verticalScrollBar().maximum() > 0  # nothing is crushed below its minimum
