"""The Compare-samplers view on a random tiny UNet (8×8, T = 20) saved as a checkpoint: Run fills the table and
the plot from a worker thread, a second Run reads the cache, Cancel stops with the finished cells."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt

from ddpm_studio.evaluation.uncertainty import format_with_error
from ddpm_studio.gui.compare.compare_samplers_view import CompareSamplersView
from ddpm_studio.gui.state import AppState

DATA = "builtin:shapes?n=48"
WAIT_MS = 120_000


@pytest.fixture
def view(qtbot, tmp_path, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    state = AppState(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), device="cpu")
    state.set_source(DATA)
    widget = CompareSamplersView(state)
    qtbot.addWidget(widget)
    widget.add_model(checkpoint, "tiny")
    widget.count.setValue(8)
    for method, box in widget.method_boxes.items():
        box.setChecked(method in ("ddim", "heun"))
    for budget, box in widget.budget_boxes.items():
        box.setChecked(budget in (5, 10))
    yield widget
    widget.shutdown(10.0)


def _run(qtbot, view) -> None:
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    assert view.running and not view.run_button.isEnabled()
    qtbot.waitUntil(lambda: not view.running, timeout=WAIT_MS)
    assert view.error is None


def test_run_fills_the_table_and_the_plot_then_reads_the_cache(qtbot, view):
    _run(qtbot, view)
    assert view.result is not None and not view.result.cancelled
    assert set(view.cells) == {("ddim", 5), ("ddim", 10), ("heun", 5), ("heun", 10)}
    heun, ddim = view.cells[("heun", 10)], view.cells[("ddim", 5)]
    swd = format_with_error(heun.metrics["swd"], heun.errors["swd"])  # value ± its bootstrap error (issue 21)
    assert view.table_text("heun", 10) == f"{swd} (9)" and "±" in swd  # Heun at an even budget: 9 NFE spent
    assert view.table_text("ddim", 5) == format_with_error(ddim.metrics["swd"], ddim.errors["swd"])
    bars = [item for item in view.plot.getPlotItem().items if isinstance(item, pg.ErrorBarItem)]
    assert len(bars) == 2  # one set of error bars per sampler
    curves = [item for item in view.plot.getPlotItem().listDataItems() if isinstance(item, pg.PlotDataItem)]
    assert len(curves) == 2 and list(curves[1].xData) == [5.0, 9.0]  # x = NFE spent
    assert view.plot.getPlotItem().ctrl.logXCheck.isChecked()
    view.metric_combo.setCurrentIndex(view.metric_combo.findData("recall"))
    assert view.table_text("ddim", 5) == format_with_error(ddim.metrics["recall"], ddim.errors["recall"])
    _run(qtbot, view)
    assert all(c.cached for c in view.result.cells) and "4 from the cache" in view.status.text()


def test_cancel_keeps_the_finished_cells(qtbot, view):
    for budget, box in view.budget_boxes.items():
        box.setChecked(budget in (5, 10, 20))
    view.count.setValue(64)
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(view.cells) >= 1, timeout=WAIT_MS)
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.running, timeout=WAIT_MS)
    assert view.result is not None and view.result.cancelled and 1 <= len(view.result.cells) < 6
    assert view.status.text().startswith("Cancelled") and view.run_button.isEnabled()


def test_nothing_chosen_is_said_not_run(qtbot, view):
    for box in view.method_boxes.values():
        box.setChecked(False)
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    assert not view.running and "methods must be among" in view.status.text()
