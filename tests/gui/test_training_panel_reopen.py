"""Reopening a run in the TrainingPanel shows its stored loss by timestep (or why there is none)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")


from ddpm_studio.data import DataConfig, load_dataset
from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
from ddpm_studio.gui.training.loss_plot import NOT_STORED_MESSAGE, UNREADABLE_MESSAGE
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A 16x16 tiny-UNet run trained for 4 steps (T = 20): history, checkpoint and timestep_loss.json."""
    config = RunConfig(
        model=UNET_PRESETS["tiny"].replace(base_channels=16, in_channels=3),
        diffusion=DiffusionConfig(timesteps=20),
        data=DataConfig(source="builtin:shapes?n=16&size=16", image_size=16),
        training=TrainingConfig(batch_size=4, max_steps=4, warmup_steps=1, preview_every_epochs=0,
                                device="cpu", mixed_precision="no", num_threads=1),
    )
    run = create_run(config, root=tmp_path_factory.mktemp("runs"), name="stored")
    Trainer(config, load_dataset(config.data), run, device="cpu").run(lambda event: None)
    assert run.timestep_loss_path.is_file()
    return run.path


def test_reopening_a_run_shows_its_stored_bars(qtbot, panel, trained_run):
    assert not panel.bucket_plot.has_bars()
    assert panel.open_run(trained_run)
    record = open_run(trained_run).timestep_loss()
    shown = panel.bucket_plot.bucket_values()
    assert len(shown) == len(record.means)
    assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(shown, record.means))
    qtbot.waitUntil(panel.bucket_plot.has_bars, timeout=5000)  # drawn at the next throttled repaint
    assert "stored at step 4" in panel.bucket_plot.caption.text()
    assert panel.notice_label.isHidden()


def test_an_old_run_without_the_file_keeps_the_explanation(qtbot, panel, trained_run, tmp_path):
    import shutil

    old = Path(shutil.copytree(trained_run, tmp_path / "old"))
    (old / "timestep_loss.json").unlink()
    assert panel.open_run(trained_run)
    qtbot.waitUntil(panel.bucket_plot.has_bars, timeout=5000)
    assert panel.open_run(old)  # reopening another run replaces the bars by the explanation
    assert not panel.bucket_plot.has_bars() and panel.bucket_plot.bucket_values() == ()
    assert panel.bucket_plot.message() == NOT_STORED_MESSAGE
    assert panel.loss_plot.point_count() == 4 and panel.notice_label.isHidden()  # the rest of the run is shown


def test_a_damaged_file_is_a_notice_not_an_error(qtbot, panel, trained_run, tmp_path):
    import shutil

    damaged = Path(shutil.copytree(trained_run, tmp_path / "damaged"))
    (damaged / "timestep_loss.json").write_text("{torn", encoding="utf-8")
    assert panel.open_run(damaged)
    assert not panel.bucket_plot.has_bars() and panel.bucket_plot.message() == UNREADABLE_MESSAGE
    assert not panel.notice_label.isHidden() and "damaged" in panel.notice_label.text()
    assert panel.error_label.isHidden() and panel.loss_plot.point_count() == 4


def test_resuming_a_complete_run_says_so(qtbot, panel, trained_run):
    """Issue 22 N11: Resume on a run at its last step used to do nothing visible."""
    from PySide6.QtCore import Qt

    assert panel.open_run(trained_run)
    checkpoints = sorted((trained_run / "checkpoints").iterdir())
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_busy() and panel.last_finish is not None, timeout=60_000)
    assert not panel.notice_label.isHidden()
    assert panel.notice_label.text() == "The run is complete (4 / 4 steps): raise 'train for' to continue."
    assert panel.stats.text("step") == "4 / 4"
    assert sorted((trained_run / "checkpoints").iterdir()) == checkpoints  # nothing trained, nothing written
