"""The 2-D lab tab driven as a person would: choose points, train a few steps, move the t slider, run two
samplers from the same x_T, pause / reset, pick a preset; assert what the plots show."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt

from ddpm_studio.app.lab import LabConfig
from ddpm_studio.engine import DiffusionConfig
from ddpm_studio.engine.point_mlp import PointMLPConfig
from ddpm_studio.gui.lab import LabView
from ddpm_studio.gui.state import AppState

WAIT_MS = 60_000


@pytest.fixture
def view(qtbot, tmp_path):
    state = AppState(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), device="cpu")
    widget = LabView(state)
    # a tiny lab: what a person gets from the defaults, only smaller (T = 40, a 16-unit MLP)
    widget._base = LabConfig(model=PointMLPConfig(width=16, blocks=1), batch_size=64,
                             diffusion=DiffusionConfig(timesteps=40))
    widget.points.setValue(300)
    widget.steps.setValue(30)
    qtbot.addWidget(widget)
    widget.resize(1300, 560)
    widget.show()
    yield widget
    widget.shutdown(10.0)


def _idle(qtbot, view) -> None:
    qtbot.waitUntil(lambda: not view.running, timeout=WAIT_MS)
    assert view.error is None, view.error


def test_choose_points_train_scrub_and_compare(qtbot, view, tmp_path):
    view.data.setCurrentText("gmm?modes=3")
    view.reopen()
    _idle(qtbot, view)
    assert view.t_slider.maximum() == 39
    assert len(view.forward_plot.data_item.data) == 300
    qtbot.mouseClick(view.train_button, Qt.MouseButton.LeftButton)
    _idle(qtbot, view)
    assert view.status.text().startswith("step 30, loss ")
    assert view.train_button.text() == "Resume" and view.reset_button.isEnabled()
    x, y = view.loss_curve.getData()
    assert x[-1] == 30 and np.isfinite(y).all()

    view.t_slider.setValue(0)
    at_0 = view.shown_cloud.copy()
    view.t_slider.setValue(39)
    _idle(qtbot, view)
    at_T = view.shown_cloud
    assert at_0.shape == at_T.shape == (300, 2)
    assert np.abs(at_0).max() <= 1.1 and at_T.std() > 0.8  # the data at t = 0, nearly N(0, I) at T
    field_x, _ = view.forward_plot.field_item.getData()
    assert field_x is not None and len(field_x) == 2 * 21 * 21  # one segment per grid point
    view.field_mode.setCurrentIndex(view.field_mode.findData("score"))
    score_x, _ = view.forward_plot.field_item.getData()
    assert len(score_x) == 2 * 21 * 21 and not np.allclose(score_x, field_x)
    assert np.allclose(score_x[0::2], field_x[0::2])  # the same starts, other ends

    view.left_lane.set_choice(view.left_lane.choice().__class__("ddim", 5))
    view.right_lane.set_choice(view.right_lane.choice().__class__("dpmpp_2m", 5))
    view.t_slider.setValue(20)  # a field-only look right after: the lanes still follow the new choices
    _idle(qtbot, view)
    for lane, label in ((view.left_lane, "DDIM, 5 NFE"), (view.right_lane, "DPM-Solver++(2M), 5 NFE")):
        assert lane.plot.title_text == label
        assert lane.summary.text().startswith(f"{label}: SWD to the data ")
        assert "(data vs data floor " in lane.summary.text()
        assert len(lane.plot.samples_item.data) == 500
        px, _ = lane.plot.paths_item.getData()
        assert len(px) == 40 * (5 + 2)  # 40 paths of x_T + 5 states, NaN-separated
    starts = [lane.plot.paths_item.getData()[0][0] for lane in (view.left_lane, view.right_lane)]
    assert starts[0] == starts[1]  # the same x_T
    assert all(np.isfinite(view.distances))
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    _idle(qtbot, view)
    assert view.left_lane.summary.text().startswith("DDIM, 5 NFE: SWD to the data ")

    view.grab().save(str(tmp_path / "lab.png"))


def test_pause_resume_and_reset(qtbot, view):
    view.steps.setValue(100000)
    view.reopen()
    _idle(qtbot, view)
    qtbot.mouseClick(view.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.status.text().startswith("step "), timeout=WAIT_MS)
    assert view.pause_button.isEnabled() and not view.train_button.isEnabled()
    qtbot.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    _idle(qtbot, view)
    paused = int(view.status.text().split()[1].rstrip(","))
    assert 0 < paused < 100000 and view.train_button.text() == "Resume"
    qtbot.mouseClick(view.reset_button, Qt.MouseButton.LeftButton)
    _idle(qtbot, view)
    assert view.status.text() == "not trained" and view.train_button.text() == "Train"
    assert view.loss_curve.getData()[0] is None or len(view.loss_curve.getData()[0]) == 0


def test_a_preset_sets_the_lab_up(qtbot, view):
    view.preset.setCurrentIndex(view.preset.findData("schedules"))
    _idle(qtbot, view)
    assert view.caption.text().startswith("Linear β destroys the data by mid-way")
    assert view.schedule.currentText() == "linear"
    assert view.left_lane.plot.title_text.startswith("linear schedule: x_t at t = ")
    assert view.right_lane.plot.title_text.startswith("cosine schedule: x_t at t = ")
    assert not view.left_lane.method.isEnabled()
    linear, cosine = (np.stack(lane.plot.cloud_item.getData(), 1) for lane in (view.left_lane, view.right_lane))
    data = view.forward_plot.data_item.data
    assert np.abs(linear - cosine).mean() > 0.05  # the two schedules noise the same points differently
    assert len(data) == len(linear)


def test_bad_points_say_so(qtbot, view, tmp_path):
    (tmp_path / "one.csv").write_text("1,2\n")
    view.data.setCurrentText(f"csv:{tmp_path / 'one.csv'}")
    view.reopen()
    qtbot.waitUntil(lambda: not view.running, timeout=WAIT_MS)
    assert view.error == "one.csv: one point; a distribution needs at least 2"
    assert view.status.text() == "⚠ one.csv: one point; a distribution needs at least 2"


def test_guidance_preset_and_lanes(qtbot, view):
    """The mode-dropping preset ticks "class-conditional" and sets the right lane to CFG w = 5; guiding an
    unconditional lab says why it cannot."""
    view.preset.setCurrentIndex(view.preset.findData("mode_dropping"))
    _idle(qtbot, view)
    assert view.conditional.isChecked() and view.config().conditional
    assert view.right_lane.guidance.value() == 5.0 and not view.right_lane.autoguide.isChecked()
    view.points.setValue(300)
    view.steps.setValue(20)
    view.reopen()
    _idle(qtbot, view)
    qtbot.mouseClick(view.train_button, Qt.MouseButton.LeftButton)
    _idle(qtbot, view)
    assert view.left_lane.plot.title_text == "DDIM, 25 NFE"
    assert view.right_lane.plot.title_text == "DDIM, CFG w=5, 25 NFE"
    assert view.right_lane.summary.text().startswith("DDIM, CFG w=5, 25 NFE: SWD to the data ")
    assert "; per-class spread " in view.right_lane.summary.text() and "(data 0." in view.right_lane.summary.text()

    view.conditional.click()  # unticked: a fresh unconditional lab
    qtbot.waitUntil(lambda: not view.running, timeout=WAIT_MS)
    assert view.error == ("classifier-free guidance (w != 1) needs a class-conditional lab: tick 'class-conditional' "
                          "on labelled points, or use autoguidance")
    assert view.status.text().startswith("⚠ classifier-free guidance (w != 1) needs")


def _drag(widget, points) -> None:
    """A left-button drag through ``points`` (QTest's mouseMove carries no buttons, so the events are sent)."""
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    press, move = QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove
    for kind, (x, y) in [(press, points[0])] + [(move, p) for p in points[1:]]:
        button = Qt.MouseButton.LeftButton if kind == press else Qt.MouseButton.NoButton
        event = QMouseEvent(kind, QPointF(x, y), QPointF(widget.mapToGlobal(QPointF(x, y))), button,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)


def test_draw_points_with_the_mouse_and_train_on_them(qtbot, view):
    from ddpm_studio.gui.lab.lab_view import DAB

    view.data.setCurrentText("draw")
    view._data_chosen()
    assert view.draw_box.isVisible() and view.status.text().startswith("drawing: 0 points")
    plot = view.forward_plot
    centre = plot.mapFromScene(plot.getPlotItem().vb.mapViewToScene(pg_point(0.5, 0.5)))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    drawn = view.drawn
    assert len(drawn) == DAB and np.linalg.norm(drawn - [0.5, 0.5], axis=1).max() < view.brush_radius.value() + 0.05
    assert len(plot.data_item.data) == DAB  # shown as it is drawn
    view.use_button.click()  # too few: said, nothing started
    assert not view.running
    assert view.error == f"drawn: {DAB} points; draw at least 20 (click or drag on the middle plot)"
    assert view.status.text() == f"⚠ {view.error}"

    start = plot.mapFromScene(plot.getPlotItem().vb.mapViewToScene(pg_point(-1.0, -0.5)))
    _drag(plot.viewport(), [(start.x() + 8 * k, start.y()) for k in range(6)])
    assert len(view.drawn) == 7 * DAB
    assert view.drawn[DAB:, 0].min() < -0.85 and view.drawn[DAB:, 0].max() > -0.8  # along the stroke
    view.use_button.click()
    _idle(qtbot, view)
    assert len(plot.data_item.data) == 7 * DAB and np.abs(plot.data_item.data).max() == pytest.approx(1.0, abs=1e-5)
    qtbot.mouseClick(view.train_button, Qt.MouseButton.LeftButton)
    _idle(qtbot, view)
    assert view.status.text().startswith("step 30, loss ")

    view.add_drawn(0.0, 0.0)  # drawing again drops the trained lab and shows the canvas
    assert view.status.text().startswith(f"drawing: {8 * DAB} points") and view.train_button.text() == "Train"
    view.clear_drawn()
    assert len(view.drawn) == 0 and len(plot.data_item.data) == 0
    view.train()
    assert view.error.startswith("drawn: 0 points; draw at least 20") and not view.running
    view.preset.setCurrentIndex(view.preset.findData("few_nfe"))  # a preset leaves draw mode
    _idle(qtbot, view)
    assert not view.drawing and not view.draw_box.isVisible() and view.data.currentText() == "moons"


def pg_point(x: float, y: float):
    from PySide6.QtCore import QPointF
    return QPointF(x, y)


def test_two_objectives_side_by_side_train_both(qtbot, view):
    """The right lane samples a second model (the eps objective) trained alongside, from the same x_T."""
    view.reopen()
    _idle(qtbot, view)
    view.twin.setCurrentIndex(view.twin.findData("objective=eps"))
    _idle(qtbot, view)
    assert view.right_lane.plot.title_text.endswith("· eps objective model")
    assert "step 0, trained alongside (twice the time)" in view.right_lane.summary.text()
    qtbot.mouseClick(view.train_button, Qt.MouseButton.LeftButton)
    _idle(qtbot, view)
    assert view.status.text().startswith("step 30, loss ")
    assert "The eps objective model: step 30, trained alongside" in view.right_lane.summary.text()
    assert view.left_lane.plot.title_text == "DDIM, 20 NFE"
    starts = [lane.plot.paths_item.getData()[0][0] for lane in (view.left_lane, view.right_lane)]
    assert starts[0] == starts[1]  # the same x_T
    view.twin.setCurrentIndex(0)
    _idle(qtbot, view)
    assert not view.right_lane.plot.title_text.endswith("model")


def test_density_contours_are_drawn_around_the_data_and_toggle(qtbot, view):
    from ddpm_studio.gui.lab.lab_tasks import density_contours

    view.data.setCurrentText("gmm?modes=3")
    view.reopen()
    _idle(qtbot, view)
    x, y = view.forward_plot.contour_item.getData()
    lines = np.stack([x, y], 1)
    lines = lines[np.isfinite(lines).all(1)]
    assert len(lines) > 30 and view.forward_plot.contour_item.isVisible()
    data = view.forward_plot.data_item.data
    nearest = np.linalg.norm(lines[:, None] - data[None], axis=2).min(1)
    assert np.median(nearest) < 0.15  # the lines sit on the three modes, not in the empty middle
    assert np.array_equal(view.right_lane.plot.contour_item.getData()[0], x, equal_nan=True)
    view.show_contours.setChecked(False)
    assert not any(plot.contour_item.isVisible() for plot in view.plots)
    view.show_contours.setChecked(True)
    assert all(plot.contour_item.isVisible() for plot in view.plots)

    blob = np.zeros((32, 32))
    blob[20, 8] = 1.0  # one cell: x index 20, y index 8 over [-1.6, 1.6]²
    cx, cy = density_contours(blob, 1.6, masses=(0.5,))
    finite = np.isfinite(cx)
    assert abs(cx[finite].mean() - (-1.6 + 20.5 * 0.1)) < 1e-6 and abs(cy[finite].mean() - (-1.6 + 8.5 * 0.1)) < 0.02


def test_leaving_and_entering_a_guidance_preset_never_guides_the_wrong_lab(qtbot, view, caplog):
    """Setting the preset's lanes must not run a look on the previous (unconditional) lab (its failure would be
    dropped by the reopen that follows, but logged and paid for)."""
    view.reopen()
    _idle(qtbot, view)
    view.preset.setCurrentIndex(view.preset.findData("mode_dropping"))
    _idle(qtbot, view)
    view.preset.setCurrentIndex(view.preset.findData("few_nfe"))
    _idle(qtbot, view)
    assert view.right_lane.guidance.value() == 1.0 and not view.conditional.isChecked()
    assert "background task failed" not in caplog.text
