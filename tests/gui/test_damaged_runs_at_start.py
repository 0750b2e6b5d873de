"""Issue 23 F1: the app starts with a damaged run folder on disk, and says which run it skipped."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings

from ddpm_studio.data import DataConfig
from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
from ddpm_studio.gui.main_window import MainWindow
from ddpm_studio.gui.state import AppState
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.runs import create_run, runs_root


def _config() -> RunConfig:
    return RunConfig(model=UNET_PRESETS["tiny"].replace(base_channels=16, in_channels=3),
                     diffusion=DiffusionConfig(timesteps=20),
                     data=DataConfig(source="builtin:shapes?n=16&size=16", image_size=16),
                     training=TrainingConfig(batch_size=4, max_steps=4, device="cpu"))


@pytest.mark.parametrize("damage", ["deep", "huge", "fifo files"])
def test_the_app_starts_with_a_damaged_run_and_names_it(qtbot, tmp_path, damage):
    create_run(_config(), root=runs_root(), name="good")
    bad = create_run(_config(), root=runs_root(), name="broken")
    if damage == "deep":
        (bad.path / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    elif damage == "huge":
        with open(bad.path / "config.json", "r+b") as f:
            f.truncate(2**30)
    else:
        os.mkfifo(bad.path / "timestep_loss.json")
        os.mkfifo(bad.path / "best.json")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(AppState(settings, device="cpu"), initial_source="builtin:shapes?n=16&size=16")
    qtbot.addWidget(window)
    panel = window.training_panel
    names = [panel.runs_combo.itemText(i).split(" ")[0] for i in range(panel.runs_combo.count())]
    if damage == "fifo files":
        assert sorted(names) == ["broken", "good"]  # FIFOs inside a run do not make it unusable
    else:
        assert names == ["good"]
        assert "broken: config.json cannot be used" in panel.notice_label.text()
    window.close()
