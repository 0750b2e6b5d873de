"""The "Per-image losses…" window: the table fills off the UI thread, sorts by loss, cancels, fails in one line,
and the Training tab's button opens it for the opened run."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.training.loss_table_model import ROW_ROLE
from ddpm_studio.gui.training.panel import TrainingPanel
from ddpm_studio.gui.training.per_image_losses import MEAN_COLUMN, SPLIT_COLUMN, PerImageLossesDialog


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _dialog(qtbot, run, settings) -> PerImageLossesDialog:
    dialog = PerImageLossesDialog(run, settings)
    qtbot.addWidget(dialog)
    return dialog


def _shown_losses(dialog) -> list[float]:
    proxy = dialog.proxy
    return [proxy.index(r, 0).data(ROW_ROLE).mean for r in range(proxy.rowCount())]


def test_the_table_fills_highest_loss_first_with_thumbnails_and_sorts_by_a_click(qtbot, tmp_path, settings,
                                                                                  save_random_checkpoint):
    path = save_random_checkpoint(tmp_path / "run" / "checkpoints" / "step_00000001.safetensors")
    dialog = _dialog(qtbot, tmp_path / "run", settings)
    dialog.show()
    with qtbot.waitSignal(dialog._runner.finished, timeout=120_000):
        dialog.start()
        assert not dialog.compute_button.isEnabled() and dialog.cancel_button.isEnabled()
    assert dialog.status_label.text() == "48 images"
    assert path.name in dialog.summary_label.text()
    shown = _shown_losses(dialog)
    assert len(shown) == 48 and shown == sorted(shown, reverse=True)
    assert not dialog.proxy.index(0, 0).data(Qt.ItemDataRole.DecorationRole).isNull()  # a thumbnail
    assert dialog.proxy.index(0, 1).data() in ("circle", "square", "triangle")  # builtin shapes carry classes
    assert dialog.table.isColumnHidden(SPLIT_COLUMN)  # this run held nothing out: no "split" column
    header = dialog.table.horizontalHeader()
    x = header.sectionViewportPosition(MEAN_COLUMN) + header.sectionSize(MEAN_COLUMN) // 2
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    assert _shown_losses(dialog) == sorted(shown)  # a click on "mean loss": lowest first
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    assert _shown_losses(dialog) == shown
    assert dialog.pairs_model.rowCount() == 0 and "0 near-duplicate pair(s)" in dialog.pairs_label.text()
    assert dialog.export_button.isEnabled() and dialog.compute_button.text() == "Compute again"


def test_cancel_keeps_the_images_scored_so_far(qtbot, tmp_path, settings, save_random_checkpoint):
    save_random_checkpoint(tmp_path / "big" / "checkpoints" / "step_00000001.safetensors",
                           data="builtin:shapes?n=3000")
    dialog = _dialog(qtbot, tmp_path / "big", settings)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.status_label.text() == "Scoring images", timeout=120_000)
    with qtbot.waitSignal(dialog._runner.finished, timeout=60_000):
        dialog.cancel_button.click()
    assert dialog.status_label.text().startswith("Cancelled after ")
    assert 0 < dialog.model.rowCount() < 3000
    assert dialog.compute_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_a_missing_data_folder_is_one_red_line(qtbot, tmp_path, settings, save_random_checkpoint):
    save_random_checkpoint(tmp_path / "lost" / "checkpoints" / "step_00000001.safetensors",
                           data=str(tmp_path / "gone"))
    dialog = _dialog(qtbot, tmp_path / "lost", settings)
    with qtbot.waitSignal(dialog._runner.finished, timeout=60_000):
        dialog.start()
    text = dialog.status_label.text()
    assert "the training data of lost cannot be loaded" in text and "gone" in text and "\n" not in text
    assert dialog.model.rowCount() == 0 and not dialog.export_button.isEnabled()


def test_the_training_tabs_button_opens_the_window_for_the_opened_run(qtbot, tmp_path, settings, train_tiny_run):
    run, _events = train_tiny_run(tmp_path / "runs", "opened")
    panel = TrainingPanel(AppState(settings=settings, device="cpu"))
    qtbot.addWidget(panel)
    assert not panel.losses_button.isEnabled()  # no run open yet
    assert panel.open_run(run)
    assert panel.losses_button.isEnabled()
    panel.losses_button.click()
    dialog = panel.losses_window
    assert dialog is not None and dialog.run == run
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=120_000)
    assert dialog.model.rowCount() == 8
    panel.shutdown(5.0)


def test_a_run_with_a_validation_split_shows_which_images_were_held_out(qtbot, tmp_path, settings):
    from dataclasses import replace

    from ddpm_studio.data.config import DataConfig
    from ddpm_studio.data.dataset import load_dataset
    from ddpm_studio.training.runs import create_run
    from ddpm_studio.training.trainer import Trainer
    from tests.training.conftest import tiny_config

    data = DataConfig(source="builtin:shapes?n=100", image_size=8, channels=3)
    config = replace(tiny_config(batch_size=8, max_steps=1, checkpoint_every_steps=1), data=data)
    run = create_run(config, root=tmp_path, name="held")
    Trainer(config, load_dataset(data), run, device="cpu").run(lambda _e: None)
    dialog = _dialog(qtbot, run.path, settings)
    with qtbot.waitSignal(dialog._runner.finished, timeout=120_000):
        dialog.start()
    assert not dialog.table.isColumnHidden(SPLIT_COLUMN)
    split = [dialog.proxy.index(r, SPLIT_COLUMN).data() for r in range(dialog.proxy.rowCount())]
    assert split.count("held out") == 32 and split.count("trained") == 68
    assert "32 images held out for the validation loss (never trained on)" in dialog.summary_label.text()
