"""File → Open Model… on a diffusers pipeline folder (made here with random weights): the Sampler, Compare
samplers and Probe offer it, the Sampler samples from it, and a folder that is no model changes nothing."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("diffusers")

import diffusers
from PySide6.QtCore import QSettings, Qt

from ddpm_studio.gui.main_window import MainWindow
from ddpm_studio.gui.state import AppState

WAIT_MS = 120_000


@pytest.fixture
def published(tmp_path, tiny_diffusers_unet):
    unet = tiny_diffusers_unet()
    folder = tmp_path / "ddpm-tiny-published"
    diffusers.DDPMPipeline(unet=unet, scheduler=diffusers.DDPMScheduler(num_train_timesteps=40)).save_pretrained(folder)
    return folder


@pytest.fixture
def window(qtbot, tmp_path):
    state = AppState(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), device="cpu")
    with qtbot.waitSignal(state.source_changed, timeout=10_000):
        win = MainWindow(state, initial_source="builtin:shapes?n=16&size=32")
        qtbot.addWidget(win)
    yield win
    win.close()


def _items(combo) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def test_an_opened_pipeline_is_offered_everywhere_and_samples(qtbot, window, published):
    assert window.open_model(published)
    assert window.tabs.currentWidget() is window.sampler_view
    controls = window.sampler_view.controls
    assert controls.model_combo.currentText() == "ddpm-tiny-published (diffusers)"
    assert controls.nfe_label.text() != "—"  # its T (40) is read from the scheduler config
    for view in (window.compare_view, window.probe_view):
        assert "ddpm-tiny-published (diffusers)" in _items(view.model_combo)
    controls.method.setCurrentIndex(controls.method.findData("dpmpp_2m"))
    controls.steps.setValue(3)
    controls.count.setValue(2)
    view = window.sampler_view
    qtbot.mouseClick(controls.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.finished_reason is not None, timeout=WAIT_MS)
    assert view.finished_reason == "completed", view.error
    assert window.state.opened_models == [str(published)]  # remembered for the next start


def test_a_folder_that_is_no_model_is_said_and_changes_nothing(qtbot, window, tmp_path):
    (tmp_path / "photos").mkdir()
    before = _items(window.sampler_view.controls.model_combo)
    assert not window.open_model(tmp_path / "photos")
    assert "is not a diffusers model folder, a run folder or a checkpoint file" in window.statusBar().currentMessage()
    assert _items(window.sampler_view.controls.model_combo) == before and window.state.opened_models == []


def test_a_big_model_is_timed_and_the_cost_line_says_how_long(qtbot, window, published, monkeypatch):
    """Models of MEASURE_FROM_SIDE px or more are timed on the pool when chosen (issue 27: the count / size warning
    with an estimated time); the threshold is lowered to this 8 px model so the real measurement runs here."""
    from ddpm_studio.gui.sampler import sampler_view

    monkeypatch.setattr(sampler_view, "MEASURE_FROM_SIDE", 8)
    assert window.open_model(published)
    controls = window.sampler_view.controls
    controls.steps.setValue(3)  # within its T = 40
    qtbot.waitUntil(lambda: "about" in controls.nfe_label.text(), timeout=WAIT_MS)
    controls.count.setValue(4)
    assert "for 4 image(s) on the CPU" in controls.nfe_label.text()
    controls.count.setValue(8)
    assert "for 8 image(s) on the CPU" in controls.nfe_label.text()  # the estimate follows the count at once
