"""The preview filmstrip (issue 13 item 11): the selected thumbnail keeps its colours; a border marks it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from ddpm_studio.gui.training.filmstrip import Filmstrip

RED = (200, 40, 40)


def test_the_selected_thumbnail_is_bordered_not_tinted(qtbot):
    strip = Filmstrip()
    qtbot.addWidget(strip)
    strip.resize(500, 360)
    strip.show()
    for epoch in (1, 2):
        strip.add_preview(epoch, np.full((8, 8, 3), RED, np.uint8))  # a ready grid: no white gaps
    strip.set_current(1)
    qtbot.wait(50)
    view = strip.thumbs
    image = view.viewport().grab().toImage()
    selected, other = (view.visualItemRect(view.item(i)) for i in (1, 0))
    icon_at = [(r.center().x(), r.top() + 4 + view.iconSize().height() // 2) for r in (selected, other)]
    colours = [image.pixelColor(x, y) for x, y in icon_at]
    for colour in colours:  # the icon's own colour, exactly, selected or not
        assert (colour.red(), colour.green(), colour.blue()) == RED
    # a border of the highlight colour around the selected item only
    highlight = view.palette().highlight().color()
    edge = image.pixelColor(selected.left() + 1, selected.center().y())
    plain = image.pixelColor(other.left() + 1, other.center().y())
    assert (edge.red(), edge.green(), edge.blue()) == (highlight.red(), highlight.green(), highlight.blue())
    assert (plain.red(), plain.green(), plain.blue()) != (highlight.red(), highlight.green(), highlight.blue())


def test_previews_are_not_said_to_come_every_epoch(qtbot):
    """Issue 22 N10: previews come by time share; the thumbnails name their step."""
    import numpy as np

    from ddpm_studio.gui.training.filmstrip import Filmstrip

    strip = Filmstrip()
    qtbot.addWidget(strip)
    assert "every epoch" not in strip.header.text() and "same starting noise" in strip.header.text()
    strip.add_preview(3, np.zeros((8, 8, 3), np.uint8), step=1200)
    strip.add_preview(3, np.zeros((8, 8, 3), np.uint8))
    assert [strip.thumbs.item(i).text() for i in range(2)] == ["step 1200", "epoch 3"]
