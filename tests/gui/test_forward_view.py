"""The forward-noising timeline, driven as a person would: select images, move the slider, pick schedules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QSettings, Qt

from ddpm_studio.data.transforms import ImageTransform, to_uint8
from ddpm_studio.engine.schedules import make_schedule
from ddpm_studio.gui.forward.forward_view import ForwardView, spread_of_t
from ddpm_studio.gui.state import AppState


@pytest.fixture
def state(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    yy, xx = np.mgrid[0:32, 0:32]
    for i in range(3):
        pixels = np.stack([(xx * 8 + 40 * i) % 256, (yy * 8) % 256, np.full_like(xx, 60 * i)], -1)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"img_{i}.png")
    app_state = AppState(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat), device="cpu")
    app_state.set_source(str(folder))
    app_state.set_selection([0, 1, 2])  # as the Dataset tab does (its check selects the first valid images)
    return app_state


@pytest.fixture
def view(qtbot, state):
    widget = ForwardView(state)
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.timesteps_spin.setValue(100)  # small T keeps the test fast
    with qtbot.waitSignal(widget.images_ready, timeout=10_000):
        widget.show()
    yield widget
    widget.shutdown()


def source_image(state, index: int, size: int = 64) -> np.ndarray:
    return to_uint8(ImageTransform(size, 3)(state.source.load(index)))


def test_t0_shows_the_source_image(view, state):
    view.set_t(0)
    assert len(view.live_labels[0]) == 3  # the three selected images
    for column in range(3):
        np.testing.assert_array_equal(view.displayed_image(column), source_image(state, column))


def test_selecting_an_image_and_moving_the_slider_changes_the_picture(qtbot, view, state):
    with qtbot.waitSignal(view.images_ready, timeout=10_000):
        state.set_selection([2])
    assert len(view.live_labels[0]) == 1
    view.set_t(0)
    clean = view.displayed_image()
    np.testing.assert_array_equal(clean, source_image(state, 2))
    qtbot.keyClick(view.slider, Qt.Key.Key_PageUp)  # as a person would: one page step along the slider
    assert view.t() == 50
    noisy = view.displayed_image()
    assert np.abs(noisy.astype(int) - clean.astype(int)).mean() > 10
    view.set_t(0)
    view.set_t(50)  # scrubbing back and forth is deterministic: one fixed ε per image
    np.testing.assert_array_equal(view.displayed_image(), noisy)
    assert "t = 50 / 100" in view.t_label.text()


def test_near_T_the_pixels_are_unit_noise(view):
    T = view.timesteps_spin.value()
    view.set_t(T - 1)
    xt = view.noiser.xt(view.schedule(), T - 1)
    assert abs(float(xt.std()) - 1.0) < 0.05 and abs(float(xt.mean())) < 0.05
    # what is shown is that noise clipped to [-1, 1]: std of clip(N(0,1), -1, 1) is 0.718, times 127.5
    shown = np.stack([view.displayed_image(c) for c in range(3)]).astype(np.float64)
    assert abs(shown.std() - 0.718 * 127.5) < 0.06 * 127.5


def test_switching_schedule_changes_the_curves(qtbot, view):
    view.schedule_combo.setCurrentText("linear")
    _, linear = view.curves.curves["alpha_bar"].getData()
    assert linear[0] == 1.0 and len(linear) == 101  # ᾱ_0 = 1, then t = 1..T
    view.schedule_combo.setCurrentText("cosine")
    _, cosine = view.curves.curves["alpha_bar"].getData()
    assert not np.allclose(cosine, linear)
    np.testing.assert_allclose(cosine[1:], make_schedule("cosine", 100).alphas_cumprod.numpy(), rtol=1e-6)
    _, log_snr = view.curves.curves["log_snr"].getData()
    np.testing.assert_allclose(log_snr, make_schedule("cosine", 100).log_snr.numpy(), rtol=1e-5)
    view.set_t(30)
    assert view.curves.markers[0].value() == 30


def test_compare_two_schedules_on_the_same_image_and_noise(qtbot, view, state):
    view.schedule_combo.setCurrentText("linear")
    view.compare_combo.setCurrentText("cosine")
    qtbot.mouseClick(view.compare_check, Qt.MouseButton.LeftButton)
    assert view.compare_check.isChecked() and len(view.live_labels) == 2
    assert {"alpha_bar", "alpha_bar@2", "log_snr@2"} <= set(view.curves.curves)
    view.set_t(0)
    np.testing.assert_array_equal(view.displayed_image(0, row=0), view.displayed_image(0, row=1))
    view.set_t(40)
    linear, cosine = view.displayed_image(0, row=0), view.displayed_image(0, row=1)
    assert not np.array_equal(linear, cosine)
    # both rows use the same x_0 and the same ε: recompute the cosine row by hand from the linear row's ε
    x0 = torch.from_numpy(source_image(state, 0)).permute(2, 0, 1).float() / 127.5 - 1
    eps = view.noiser.eps[0]
    schedule = make_schedule("cosine", 100)
    expected = schedule.sqrt_alphas_cumprod[39] * x0 + schedule.sqrt_one_minus_alphas_cumprod[39] * eps
    np.testing.assert_allclose(cosine.astype(int), to_uint8(expected.float()).astype(int), atol=1)


def test_grid_spans_t_from_zero_to_T(view):
    assert spread_of_t(100, 8) == [0, 14, 29, 43, 57, 71, 86, 100]
    grid = view.noiser.grid(view.schedule(), spread_of_t(100, 8))
    assert grid.shape == (3, 8, 64, 64, 3)
    np.testing.assert_array_equal(grid[:, 0], np.stack([source_image(view.state, i) for i in range(3)]))
    assert view.grid_label.pixmap() is not None and not view.grid_label.pixmap().isNull()


def test_play_advances_t_and_pause_stops(qtbot, view):
    view.set_t(0)
    with qtbot.waitSignal(view.frame_shown, timeout=5000):
        qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.t() > 0, timeout=5000)
    qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    assert not view.play_button.isChecked() and not view._timer.isActive()
    assert view.play_button.text().endswith("Play")


def test_compare_starts_with_a_different_schedule_and_stays_different(qtbot, view):
    assert view.compare_combo.currentText() != view.schedule_combo.currentText()
    view.schedule_combo.setCurrentText(view.compare_combo.currentText())
    assert view.compare_combo.currentText() != view.schedule_combo.currentText()


def test_comparing_shows_both_schedules_in_the_readout_and_both_legends(qtbot, view):
    view.schedule_combo.setCurrentText("linear")
    view.compare_combo.setCurrentText("cosine")
    view.set_t(0)
    size = view.t_label.size()
    view.compare_check.setChecked(True)
    view.set_t(37)
    lines = view.t_label.text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("linear") and lines[1].startswith("cosine")
    assert all("t = 37 / 100" in line for line in lines)
    assert view.t_label.size() == size  # fixed: no layout jitter while scrubbing or when comparing
    snr_names = [label.text for _sample, label in view.curves.snr_legend.items]
    assert snr_names == ["log SNR (linear)", "log SNR (cosine)"]
    # the legends sit below the plots, never over the curves
    for plot, legend in ((view.curves.coefficients, view.curves.legend), (view.curves.snr, view.curves.snr_legend)):
        box = plot.getPlotItem().getViewBox()
        qtbot.waitUntil(lambda box=box, legend=legend:
                        legend.sceneBoundingRect().top() >= box.sceneBoundingRect().bottom() > 50, timeout=3000)


def test_typing_a_T_out_of_range_says_the_valid_range(qtbot, view):
    spin = view.timesteps_spin
    spin.setFocus()
    for typed in ("5", "0", "5000"):
        spin.lineEdit().selectAll()
        qtbot.keyClicks(spin, typed)
        qtbot.keyClick(spin, Qt.Key.Key_Return)
        assert spin.value() == 100
        assert view.t_range_label.isVisible()
        assert f"T must be between 10 and 4000 ({typed} is not); T stays 100." == view.t_range_label.text()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "200")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert spin.value() == 200 and not view.t_range_label.isVisible()


def test_a_failed_load_never_leaves_the_previous_images_beside_the_error(qtbot, view, state, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png at all")
    with qtbot.waitSignal(state.selection_changed):
        state.set_source(str(broken))
    state.set_selection([0])
    qtbot.waitUntil(lambda: "Could not load" in view.message.text(), timeout=5000)
    assert view.live_labels == [] and view.noiser.x0 is None
    assert view.grid_label.pixmap() is None or view.grid_label.pixmap().isNull()


def test_play_buttons_use_standard_icons_and_no_font_glyphs(qtbot):
    """Issue 13 item 14: no "▶"/"⏸" text that a default font draws as a box; the icon and the word follow the
    state however it is set (a click, or setChecked with the signals blocked)."""
    from ddpm_studio.gui.widgets.play_button import PlayPauseButton

    button = PlayPauseButton()
    qtbot.addWidget(button)
    assert button.text() == "Play" and not button.icon().isNull()
    play_key = button.icon().cacheKey()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert button.isChecked() and button.text() == "Pause" and button.icon().cacheKey() != play_key
    button.blockSignals(True)
    button.setChecked(False)
    button.blockSignals(False)
    assert button.text() == "Play" and button.icon().cacheKey() == play_key
    assert not any(glyph in button.text() for glyph in "▶⏸")


def test_the_T_message_pushes_no_control_and_goes_away(qtbot, view):
    """Issue 22 N16: the message stayed up and pushed the toolbar's controls to the right."""
    view.resize(1280, 820)
    view.show()
    qtbot.waitExposed(view)
    spin = view.timesteps_spin
    before = [w.mapTo(view, w.rect().topLeft()) for w in (view.compare_check, view.seed_spin, view.channels_combo)]
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "5")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert view.t_range_label.isVisible()
    qtbot.wait(1)  # the layout settles
    after = [w.mapTo(view, w.rect().topLeft()) for w in (view.compare_check, view.seed_spin, view.channels_combo)]
    assert after == before
    qtbot.keyClicks(spin, "1")  # typing again
    assert not view.t_range_label.isVisible()
    qtbot.keyClick(spin, Qt.Key.Key_Escape)
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "9")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert view.t_range_label.isVisible()
    view._t_message_timer.timeout.emit()  # the time is up (not waited for: no timed assertion)
    assert not view.t_range_label.isVisible()
