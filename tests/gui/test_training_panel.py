"""TrainingPanel driven as a person would: fill the form, Start, Pause, Resume, Stop, reopen, shut down."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt

from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.training.panel import TrainingPanel
from ddpm_studio.training.checkpoint import load_model
from ddpm_studio.training.runs import open_run

WAIT_MS = 120_000  # generous: the machine is shared; nothing here is a timing assertion


@pytest.fixture
def state(tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return AppState(settings=settings, device="cpu")


@pytest.fixture
def panel(qtbot, state):
    widget = TrainingPanel(state)
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown(10.0)


def set_tiny(panel: TrainingPanel, steps: int = 400) -> None:
    """A model and data small enough for seconds on a CPU: 16x16 shapes, width 16, T = 40."""
    f = panel.form
    f.source.setText("builtin:shapes?n=48&size=16")
    f.image_size.setCurrentIndex(f.image_size.findData("16"))
    f.preset.setCurrentIndex(f.preset.findData("tiny"))
    f.width.setValue(16)
    f.timesteps.setValue(40)
    f.batch.setValue(8)
    f.length.setValue(steps)
    f.by_steps.setChecked(True)
    f.preview_count.setValue(4)
    f.preview_every.setValue(1)
    f.checkpoint_every.setValue(1000)


def test_invalid_combinations_disable_start(panel):
    set_tiny(panel)
    assert panel.start_button.isEnabled()
    panel.form.width.setValue(12)  # 12 is not divisible by the 8 GroupNorm groups
    assert not panel.start_button.isEnabled()
    assert "8" in panel.problem_label.text() and not panel.problem_label.isHidden()
    panel.form.width.setValue(16)
    panel.form.source.setText("")
    assert not panel.start_button.isEnabled()
    assert "dataset" in panel.problem_label.text().lower()
    panel.form.source.setText("builtin:shapes")
    panel.form.device.setCurrentIndex(panel.form.device.findData("cuda"))
    import torch
    assert panel.start_button.isEnabled() == torch.cuda.is_available()


def test_start_pause_stop_reopen_resume(qtbot, panel, state):
    set_tiny(panel)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.is_busy()
    qtbot.waitUntil(lambda: panel.loss_plot.point_count() >= 3, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.filmstrip.count() >= 1, timeout=WAIT_MS)
    preview = panel.filmstrip.current()
    assert preview is not None and preview.grid.ndim == 3 and preview.grid.dtype.name == "uint8"
    assert state.run_path is not None and Path(state.run_path).is_dir()

    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert panel.pause_button.text() == "Resume"
    qtbot.waitUntil(panel.trainer_paused, timeout=WAIT_MS)
    qtbot.wait(200)  # deliver the events already queued before the pause took hold
    held = panel.step_count()
    qtbot.wait(600)
    assert panel.step_count() == held and panel.is_busy()

    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)  # resume
    qtbot.waitUntil(lambda: panel.step_count() > held, timeout=WAIT_MS)

    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_busy() and panel.last_finish is not None, timeout=WAIT_MS)
    assert panel.last_finish.reason == "stopped"
    assert panel.checkpoint_path is not None and panel.checkpoint_path.is_file()
    model, diffusion, config = load_model(panel.checkpoint_path)
    assert config.data.image_size == 16 and diffusion.num_timesteps == 40
    stopped_at = panel.last_finish.step

    # reopen from disk: history plotted, previews shown; then resume from the checkpoint
    run_path = Path(state.run_path)
    panel.loss_plot.clear()
    panel.filmstrip.clear()
    assert panel.open_run(run_path)
    assert panel.loss_plot.point_count() >= 3
    assert panel.filmstrip.count() == len(open_run(run_path).previews()) >= 1
    assert panel.resume_button.isEnabled()
    panel.form.length.setValue(stopped_at + 3)
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_busy() and panel.last_finish is not None, timeout=WAIT_MS)
    assert panel.last_finish.reason == "completed" and panel.last_finish.step == stopped_at + 3
    assert panel.step_count() == stopped_at + 3


def test_shutdown_mid_training_writes_checkpoint_and_joins(qtbot, panel, state):
    set_tiny(panel, steps=100_000)
    panel.start()
    qtbot.waitUntil(lambda: panel.step_count() >= 2, timeout=WAIT_MS)
    panel.shutdown(timeout_s=10.0)
    assert not panel.is_busy()
    run = open_run(state.run_path)
    assert run.latest_checkpoint() is not None


def test_failure_is_shown_in_the_panel(qtbot, panel, tmp_path):
    set_tiny(panel)
    empty = tmp_path / "empty"
    empty.mkdir()
    panel.form.source.setText(str(empty))
    panel.start()
    qtbot.waitUntil(lambda: not panel.is_busy() and panel.last_failure is not None, timeout=WAIT_MS)
    assert panel.last_failure.kind == "data"
    assert not panel.error_label.isHidden() and panel.error_label.text()
    assert panel.start_button.isEnabled()
