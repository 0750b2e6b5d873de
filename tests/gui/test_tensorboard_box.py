"""The training form's "log to TensorBoard" box: a ticked box makes the run log there; without the package the
box is off and says which extra to install."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt

from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.training.form import TrainingForm
from ddpm_studio.gui.training.panel import TrainingPanel
from ddpm_studio.training.tensorboard_log import INSTALL_HINT, default_tensorboard_dir

WAIT_MS = 120_000


def test_without_the_package_the_box_is_off_and_names_the_extra(qtbot, monkeypatch):
    monkeypatch.setattr("ddpm_studio.gui.training.form.tensorboard_available", lambda: False)
    form = TrainingForm()
    qtbot.addWidget(form)
    assert not form.tensorboard.isEnabled() and form.tensorboard.toolTip() == INSTALL_HINT
    assert form.tensorboard_dir() is None


def test_a_ticked_box_logs_the_run_for_tensorboard(qtbot, tmp_path, _isolated_home):
    pytest.importorskip("tensorboard")
    state = AppState(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), device="cpu")
    panel = TrainingPanel(state)
    qtbot.addWidget(panel)
    f = panel.form
    f.source.setText("builtin:shapes?n=8&size=16")
    f.image_size.setCurrentIndex(f.image_size.findData(8))
    f.preset.setCurrentIndex(f.preset.findData("tiny"))
    f.width.setValue(8)
    f.timesteps.setValue(10)
    f.batch.setValue(4)
    f.length.setValue(3)
    f.by_steps.setChecked(True)
    f.lr_schedule.setCurrentIndex(f.lr_schedule.findData("constant"))  # 3 steps: shorter than the warm-up
    f.preview_every.setValue(1)
    assert f.tensorboard.isEnabled() and f.tensorboard_dir() is None
    f.tensorboard.setChecked(True)
    assert f.tensorboard_dir() == default_tensorboard_dir()
    assert Path(_isolated_home) in default_tensorboard_dir().parents  # the test's own user folder
    assert f.problem() is None, f.problem()
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT_MS)
    panel.shutdown(10.0)
    run_name = Path(state.run_path).name
    assert list((default_tensorboard_dir() / run_name).glob("events.out.tfevents.*"))
