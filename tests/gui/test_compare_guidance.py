"""The Compare-samplers tab's guidance mode on a random tiny class-conditional UNet (8×8, T = 20): Run draws
metric against w from the worker thread, shows the protocol, reads the cache the second time; an unconditional
model without a guide is said in one line; a guide from the same run is offered."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt

from ddpm_studio.evaluation.uncertainty import format_with_error
from ddpm_studio.gui.compare.compare_samplers_view import CompareSamplersView
from ddpm_studio.gui.state import AppState

DATA = "builtin:shapes?n=48"
CLASSES = ("circle", "square", "triangle")
WAIT_MS = 120_000


@pytest.fixture
def view(qtbot, tmp_path):
    state = AppState(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), device="cpu")
    state.set_source(DATA)
    widget = CompareSamplersView(state)
    qtbot.addWidget(widget)
    widget.set_mode("guidance")
    widget.count.setValue(9)
    for w, box in widget.guidance.scale_boxes.items():
        box.setChecked(w in (0.0, 1.0, 2.0))
    widget.guidance.method_combo.setCurrentIndex(widget.guidance.method_combo.findData("ddim"))
    widget.guidance.budget.setValue(3)
    yield widget
    widget.shutdown(10.0)


def _run(qtbot, view) -> None:
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.running, timeout=WAIT_MS)


def test_guidance_mode_draws_metric_against_w_then_reads_the_cache(qtbot, view, tmp_path, save_random_checkpoint):
    view.add_model(save_random_checkpoint(tmp_path / "cond.safetensors", DATA, classes=CLASSES), "tiny")
    assert not view.methods_box.isVisibleTo(view) and view.guidance.isVisibleTo(view)
    assert "needs a class-conditional model" in view.status.text()
    assert not view.plot.getPlotItem().ctrl.logXCheck.isChecked()  # w on a linear axis
    _run(qtbot, view)
    assert view.error is None and view.guidance_result is not None
    assert sorted(view.points) == [0.0, 1.0, 2.0]
    assert [w for w, _ in view.guidance_curve()] == [0.0, 1.0, 2.0]
    assert view.guidance_curve()[2][1] == pytest.approx(view.points[2.0].metrics["swd"])
    assert "9 samples per w, spread over 3 classes (classifier-free guidance), DDIM 3 steps = 3 NFE" in (
        view.caption.text())
    point = view.points[2.0]
    swd = format_with_error(point.metrics["swd"], point.errors["swd"])
    assert view.table.columnCount() == 3 and view.table.item(0, 2).text() == swd  # 48 images: too few for a floor
    view.metric_combo.setCurrentIndex(view.metric_combo.findData("faithfulness"))
    assert view.guidance_curve()[1][1] == pytest.approx(view.points[1.0].metrics["faithfulness"])
    _run(qtbot, view)
    assert all(p.cached for p in view.guidance_result.points) and "3 from the cache" in view.status.text()
    view.set_mode("nfe")  # the NFE mode is as it was
    assert view.methods_box.isVisibleTo(view) and view.plot.getPlotItem().ctrl.logXCheck.isChecked()


def test_unconditional_model_without_a_guide_is_one_line(qtbot, view, tmp_path, save_random_checkpoint):
    view.add_model(save_random_checkpoint(tmp_path / "plain.safetensors", DATA), "plain")
    _run(qtbot, view)
    assert view.error is not None and "\n" not in view.error and "needs a class-conditional model" in view.error


def test_earlier_checkpoints_of_the_run_are_offered_as_guides(view, tmp_path, save_random_checkpoint):
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    for step in (100, 200):
        save_random_checkpoint(folder / f"step_{step:08d}.safetensors", DATA)
    view.add_model(tmp_path / "run", "run")
    labels = [view.guidance.guide_combo.itemText(i) for i in range(view.guidance.guide_combo.count())]
    assert labels[0] == "none: classifier-free guidance" and "run: step 100 (autoguidance)" in labels
    assert not any("step 200" in label for label in labels)  # the model itself
    view.guidance.guide_combo.setCurrentIndex(labels.index("run: step 100 (autoguidance)"))
    assert view.guidance.guide().endswith("step_00000100.safetensors")
    assert "autoguided by step_00000100.safetensors" in view.caption.text()
