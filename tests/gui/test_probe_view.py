"""The Probe view on a random tiny UNet (8×8, T = 20) saved as a checkpoint, probing the images selected in the
state (as the Dataset tab selects them): grid, error-vs-t plot, inversion, interpolation slider, play, export."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import QSettings, Qt

from ddpm_studio.app.probe_exports import HOLD_S
from ddpm_studio.gui.probe.probe_view import ProbeView
from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.widgets.image_utils import qimage_to_array

DATA = "builtin:shapes?n=16"
WAIT_MS = 120_000


@pytest.fixture
def view(qtbot, tmp_path, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    state = AppState(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), device="cpu")
    state.set_source(DATA)
    widget = ProbeView(state)
    qtbot.addWidget(widget)
    widget.add_model(checkpoint, "tiny")
    widget.steps.setValue(3)
    yield widget
    widget.shutdown(10.0)


def _run(qtbot, view) -> None:
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.running, timeout=WAIT_MS)
    assert view.error is None, view.error


def test_probe_of_the_selected_images_shows_grid_plot_inversion_and_interpolation(qtbot, view, tmp_path):
    view._state.set_selection([2, 7, 9])
    assert view.selection_label.text().startswith("3 image(s) selected")
    view.t_edit.setText("3, 10, 19")
    _run(qtbot, view)
    outcome = view.outcome
    assert outcome is not None and outcome.indices == (2, 7, 9) and outcome.sdedit.t_values == (3, 10, 19)
    shown = qimage_to_array(view.grid_label.pixmap().toImage())
    assert shown.shape[:2] == (28 + 3 * (3 * 8 + 4 * 2), 3 * (7 * 8 + 8 * 2))  # header + 3 rows; x0 + 3 pairs
    curves = [i for i in view.error_plot.getPlotItem().listDataItems() if isinstance(i, pg.PlotDataItem)]
    assert len(curves) == 3 and list(curves[0].xData) == [3.0, 10.0, 19.0]
    assert np.allclose(curves[0].yData, outcome.sdedit.mse.mean(axis=1))
    assert "reconstruction MSE" in view.inversion_text.text() and view.inversion_label.pixmap() is not None
    assert view.interp_slider.isEnabled() and view.interp_slider.maximum() == len(outcome.frames) - 1
    view.interp_slider.setValue(view.interp_slider.maximum())
    last = qimage_to_array(view.interp_label.pixmap().toImage())[::6, ::6]
    assert np.array_equal(last, outcome.frames[-1])
    qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.interp_slider.value() == 1, timeout=5_000)  # wrapped round to the start, playing
    qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    assert view.play_button.text() == "Play"
    grid = view.export_grid(tmp_path / "grid.png")
    assert Image.open(grid).size[0] > 100
    gif = Image.open(view.export_interpolation(tmp_path / "i.gif"))
    assert gif.n_frames == 2 * len(outcome.frames) - 2  # forth and back (the encoder merges the held copies) ...
    assert gif.info["duration"] >= 1000 * HOLD_S  # ... and held at each image (issue 22 N14)


def test_probe_exports_have_the_samplers_options_and_the_result_stays(qtbot, view, tmp_path, monkeypatch):
    """Issue 22 N14: tiny uncaptioned exports, 'Saved …' over the result, no α readout, unnamed inversion rows."""
    from PySide6.QtWidgets import QFileDialog

    view._state.set_selection([2, 7])
    view.t_edit.setText("3, 10, 19")
    _run(qtbot, view)
    summary = view.status.text()
    assert summary.startswith("Done.")
    view.interp_slider.setValue(view.interp_slider.maximum())
    assert view.alpha_label.text() == "α = 1.00"
    assert "#2: " in view.inversion_text.text() and "#7: " in view.inversion_text.text()
    assert view.inversion_label.pixmap().width() > 2 * 3 * 8 + 20  # the strip and its column of row names
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(tmp_path / "g.png"), "")))
    view.save_grid_button.click()
    assert view.status.text() == summary and view.export_status.text() == f"Saved {tmp_path / 'g.png'}"
    captioned = Image.open(tmp_path / "g.png")
    assert max(captioned.size) >= 400  # auto scale: about 512 px, not 400×98
    view.captions_check.setChecked(False)
    view.scale_combo.setCurrentIndex(view.scale_combo.findData(1))
    plain = Image.open(view.export_grid(tmp_path / "plain.png"))
    assert plain.size[1] < captioned.size[1] and plain.size[0] < captioned.size[0]
    assert Image.open(view.export_interpolation(tmp_path / "s.png")).size[1] == 8  # the strip at 1x, no caption


def test_one_image_has_no_interpolation_and_bad_t_is_said(qtbot, view):
    view._state.set_selection([0])
    view.t_edit.setText("5, x")
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    assert not view.running and "whole numbers" in view.status.text()
    view.t_edit.setText("")
    _run(qtbot, view)
    assert view.outcome.sdedit.t_values == (2, 5, 10, 14, 19) and view.outcome.frames is None
    assert not view.interp_slider.isEnabled() and not view.save_gif_button.isEnabled()
    view.t_edit.setText("25")
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.running, timeout=WAIT_MS)
    assert view.error.startswith("t=25 is out of range") and view.status.text().startswith("Failed: t=25")
