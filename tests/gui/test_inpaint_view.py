"""The Inpaint tab as a person uses it: paint a mask over the selected image (brush, erase, rectangle, presets,
invert, clear), see the cost, Fill, and see replacement and RePaint side by side with their errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QSettings, Qt

from ddpm_studio.gui.inpaint.inpaint_view import InpaintView
from ddpm_studio.gui.state import AppState

DATA = "builtin:shapes?n=48"
WAIT_MS = 120_000


@pytest.fixture
def view(qtbot, tmp_path, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    state = AppState(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), device="cpu")
    state.set_source(DATA)
    state.set_selection([2])
    widget = InpaintView(state)
    qtbot.addWidget(widget)
    widget.add_model(checkpoint, "tiny")
    widget.resize(900, 700)
    widget.show()
    yield widget
    widget.shutdown(10.0)


def _centre_of(canvas, row: int, col: int) -> QPoint:
    target = canvas._target()
    scale = target.width() // canvas.mask.shape[1]
    return QPoint(target.left() + col * scale + scale // 2, target.top() + row * scale + scale // 2)


def test_the_brush_erase_rectangle_and_presets_edit_the_mask(qtbot, view):
    canvas = view.canvas
    assert canvas.image is not None and canvas.mask.shape == (8, 8) and not canvas.mask.any()
    view.brush.setValue(1)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=_centre_of(canvas, 4, 4))
    assert canvas.mask[4, 4] and canvas.mask[3, 4] and not canvas.mask[2, 4]  # a disc of radius 1
    view.erase.setChecked(True)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=_centre_of(canvas, 4, 4))
    assert not canvas.mask.any()
    view.erase.setChecked(False)
    view.rectangle.setChecked(True)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=_centre_of(canvas, 1, 1))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=_centre_of(canvas, 2, 5))
    assert canvas.mask.sum() == 2 * 5 and canvas.mask[1:3, 1:6].all()
    view.preset.setCurrentIndex(view.preset.findData("half-left"))
    view.preset.activated.emit(view.preset.findData("half-left"))
    assert canvas.mask[:, :4].all() and not canvas.mask[:, 4:].any()
    qtbot.mouseClick(view.invert_button, Qt.MouseButton.LeftButton)
    assert canvas.mask[:, 4:].all() and not canvas.mask[:, :4].any()
    qtbot.mouseClick(view.clear_button, Qt.MouseButton.LeftButton)
    assert not canvas.mask.any()


def test_fill_shows_both_modes_with_their_cost_and_errors(qtbot, view, tmp_path):
    view.steps.setValue(4)
    view.jump.setValue(2)
    view.resample.setValue(2)
    view.fills.setValue(2)
    assert view.cost.text() == "NFE per fill: replace 4, repaint 8"
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    assert "marks nothing to fill" in view.status.text() and not view.running  # an empty mask is said
    view.canvas.apply_preset("centre")
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.running, timeout=WAIT_MS)
    assert view.error is None and view.outcome is not None
    for mode in ("replace", "repaint"):
        assert not view.result_labels[mode].pixmap().isNull()
        assert "masked MSE" in view.error_labels[mode].text() and "seam MSE" in view.error_labels[mode].text()
    replace = view.outcome.results[0]
    keep = ~view.outcome.mask
    assert np.array_equal(replace.images[0, 0][keep], view.outcome.originals[0][keep])  # known pixels exact
    written = view.export_to(tmp_path)
    assert [p.name for p in written] == ["inpaint_replace.png", "inpaint_repaint.png"] and written[0].is_file()


def test_the_cost_line_reads_the_model_once_per_choice(qtbot, view, monkeypatch):
    """A brush stroke or a spin box re-prices the fill from T read when the model was chosen: no file is read."""
    from ddpm_studio.gui.inpaint import inpaint_view

    reads: list[object] = []
    monkeypatch.setattr(inpaint_view, "model_info", lambda path: reads.append(path))
    view.steps.setValue(5)
    view.canvas.apply_preset("centre")
    view.brush.setValue(2)
    assert reads == [] and view.cost.text().startswith("NFE per fill: replace 5")
