"""The training tab as a new user met it (issue 13): run controls always visible, one "open run" from every entry
point, no stale numbers after Stop or a failed start, standard media icons, the form remembered between launches,
and a throughput that counts the time previews take."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog

from ddpm_studio.data import DataConfig, load_dataset
from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
from ddpm_studio.gui.main_window import MainWindow
from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.training.panel import TrainingPanel
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.events import StepEvent
from ddpm_studio.training.runs import create_run, open_run, runs_root
from ddpm_studio.training.trainer import Trainer

WAIT_MS = 120_000
T = 12
SMALL_BUILTIN = "builtin:shapes?n=16&size=32"


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory) -> Path:
    """A 16x16 tiny-UNet run trained for 4 steps with a preview every epoch (4 images/epoch: 1 step per epoch)."""
    config = RunConfig(
        model=UNET_PRESETS["tiny"].replace(base_channels=16, in_channels=3),
        diffusion=DiffusionConfig(timesteps=T),
        data=DataConfig(source="builtin:shapes?n=4&size=16", image_size=16),
        training=TrainingConfig(batch_size=4, max_steps=4, warmup_steps=1, preview_every_epochs=2,
                                preview_count=4, preview_sampler_steps=3, device="cpu", mixed_precision="no",
                                num_threads=1),
    )
    run = create_run(config, root=tmp_path_factory.mktemp("runs"), name="stored")
    Trainer(config, load_dataset(config.data), run, device="cpu").run(lambda event: None)
    assert run.previews() and run.latest_checkpoint() is not None
    return run.path


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    state = AppState(settings, device="cpu")
    with qtbot.waitSignal(state.source_changed, timeout=10_000):
        win = MainWindow(state, initial_source=SMALL_BUILTIN)
        qtbot.addWidget(win)
        win.show()
    yield win
    win.close()


@pytest.fixture
def panel(qtbot, settings):
    widget = TrainingPanel(AppState(settings=settings, device="cpu"))
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown(10.0)


def fully_visible(widget) -> bool:
    """Shown and not clipped by any parent (a scroll area's viewport, the window's edge)."""
    return widget.isVisible() and widget.visibleRegion().boundingRect().size() == widget.size()


@pytest.mark.parametrize("size", [(1280, 820), (1024, 700)])
def test_run_controls_are_visible_at_every_window_size(qtbot, window, size):
    window.resize(*size)
    window.tabs.setCurrentWidget(window.training_panel)
    qtbot.waitUntil(lambda: window.size().width() == size[0] and window.size().height() == size[1], timeout=3000)
    panel = window.training_panel
    qtbot.wait(50)
    for button in (panel.start_button, panel.pause_button, panel.stop_button):
        assert fully_visible(button), (size, button.text())
    panel.form_scroll.verticalScrollBar().setValue(panel.form_scroll.verticalScrollBar().maximum())
    assert fully_visible(panel.start_button)  # scrolling the form does not take them away


def test_the_run_controls_use_standard_media_icons(panel):
    for button, text in ((panel.start_button, "Start"), (panel.pause_button, "Pause"), (panel.stop_button, "Stop")):
        assert not button.icon().isNull() and button.text() == text  # no "⏸"-style glyph in the label


def _assert_shows_run(panel: TrainingPanel, run_path: Path) -> None:
    run = open_run(run_path)
    assert panel.form.timesteps.value() == T and panel.form.image_size.currentData() == 16  # its configuration
    assert panel.loss_plot.point_count() == len(run.history()) == 4  # its curve
    assert panel.filmstrip.count() == len(run.previews()) >= 1  # its previews
    assert panel.resume_button.isEnabled()  # resumable
    assert panel.stats.text("run") == str(run_path)
    assert panel.window().state.run_path == run_path


def test_every_open_run_entry_point_loads_the_run_into_the_training_tab(qtbot, window, stored_run, monkeypatch):
    target = runs_root() / "stored"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(stored_run, target)
    panel = window.training_panel
    panel.refresh_runs()

    def reset() -> None:
        panel.loss_plot.clear()
        panel.filmstrip.clear()
        panel.form.timesteps.setValue(1000)
        window.tabs.setCurrentWidget(window.dataset_view)
        window.state.set_run(None)

    # File → Open Run… (the dialog answers the folder)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(target))
    reset()
    next(a for a in window.menuBar().actions()[0].menu().actions() if a.text() == "Open &Run…").trigger()
    assert window.tabs.currentWidget() is panel
    _assert_shows_run(panel, target)

    # File → Recent Runs
    reset()
    window.state.settings.setValue("recent_runs", [str(target)])
    window.recent_runs_menu.aboutToShow.emit()
    next(a for a in window.recent_runs_menu.actions() if a.text() == str(target)).trigger()
    assert window.tabs.currentWidget() is panel
    _assert_shows_run(panel, target)

    # Runs on disk → Open, and Browse…
    reset()
    window.tabs.setCurrentWidget(panel)
    panel.runs_combo.setCurrentIndex(panel.runs_combo.findData(str(target)))
    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    _assert_shows_run(panel, target)
    reset()
    window.tabs.setCurrentWidget(panel)
    qtbot.mouseClick(panel.browse_button, Qt.MouseButton.LeftButton)
    _assert_shows_run(panel, target)

    # a folder that is not a run: the reason in the training tab's banner, nothing else changes
    not_a_run = target.parent / "nothing"
    not_a_run.mkdir()
    assert not window.open_run(not_a_run)
    assert not panel.error_label.isHidden() and "run" in panel.error_label.text().lower()


def _tiny(panel: TrainingPanel, steps: int) -> None:
    f = panel.form
    f.source.setText("builtin:shapes?n=48&size=16")
    f.image_size.setCurrentIndex(f.image_size.findData(16))
    f.preset.setCurrentIndex(f.preset.findData("tiny"))
    f.width.setValue(16)
    f.timesteps.setValue(20)
    f.batch.setValue(8)
    f.lr_schedule.setCurrentIndex(f.lr_schedule.findData("constant"))
    f.length.setValue(steps)
    f.by_steps.setChecked(True)
    f.preview_every.setValue(0)
    f.checkpoint_every.setValue(1000)


def test_stop_clears_the_eta_and_a_failed_start_shows_nothing_of_the_previous_run(qtbot, panel, tmp_path):
    _tiny(panel, steps=100_000)
    panel.start()
    qtbot.waitUntil(lambda: panel.step_count() >= 3 and panel.stats.text("eta") != "—", timeout=WAIT_MS)
    panel.stop()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT_MS)
    assert panel.stats.text("eta") == "—"
    assert panel.stats.text("step") != "—" and panel.stats.text("checkpoint") != "—"  # still true of that run

    empty = tmp_path / "empty"
    empty.mkdir()
    panel.form.source.setText(str(empty))
    panel.start()
    qtbot.waitUntil(lambda: not panel.is_busy() and panel.last_failure is not None, timeout=WAIT_MS)
    for key in ("step", "epoch", "loss", "speed", "elapsed", "eta", "run", "checkpoint"):
        assert panel.stats.text(key) == "—", key
    assert panel.stats.text("status") == "failed before the first step"


def test_the_form_remembers_its_values_between_launches(qtbot, settings):
    first = TrainingPanel(AppState(settings=settings, device="cpu"))
    qtbot.addWidget(first)
    f = first.form
    f.image_size.setCurrentIndex(f.image_size.findData(16))
    f.channels.setCurrentIndex(f.channels.findData(1))
    f.hflip.setChecked(False)
    f.timesteps.setValue(321)
    f.batch.setValue(24)
    f.by_epochs.setChecked(True)
    f.length.setValue(7)
    f.preview_count.setValue(9)
    expected = f.run_config()
    first.shutdown(1.0)
    first.deleteLater()

    second = TrainingPanel(AppState(settings=QSettings(settings.fileName(), QSettings.Format.IniFormat),
                                    device="cpu"))
    qtbot.addWidget(second)
    g = second.form
    assert (g.image_size.currentData(), g.channels.currentData(), g.hflip.isChecked()) == (16, 1, False)
    assert (g.timesteps.value(), g.batch.value(), g.by_epochs.isChecked(), g.length.value()) == (321, 24, True, 7)
    restored = g.run_config()
    assert restored.data == expected.data and restored.training == expected.training
    assert restored.model == expected.model and restored.diffusion == expected.diffusion
    second.shutdown(1.0)


def _step(step: int, elapsed: float, images_per_s: float = 12.0, overhead: dict[str, float] | None = None,
          session: float | None = None) -> StepEvent:
    return StepEvent(step=step, epoch=step, loss=0.5, lr=1e-3, images_per_s=images_per_s, elapsed_s=elapsed,
                     total_steps=100, overhead_s=overhead, session_s=session)


def test_throughput_counts_the_previews_and_a_dominating_preview_is_a_notice(qtbot, panel):
    """25 images, batch 25: one step per epoch; 2 s of optimiser step + 8 s of preview per step, as the Trainer
    counts them (StepEvent.overhead_s)."""
    panel.stats.set_batch_size(25)
    panel._runner.progress.emit([_step(1, 2.0, images_per_s=12.5, overhead={"preview": 0.0}, session=2.0)])
    assert panel.stats.text("speed") == "12.5 img/s"  # nothing to compare with yet
    panel._runner.progress.emit([_step(s, 10.0 * s - 8.0, images_per_s=12.5,
                                       overhead={"preview": 8.0 * (s - 1), "metrics": 0.0, "checkpoint": 0.0},
                                       session=10.0 * s - 8.0) for s in (2, 3, 4)])
    wall = 3 * 25 / 30.0  # 2.5 img/s
    assert panel.stats.wall_rate() == pytest.approx(wall)
    assert panel.stats.text("speed") == f"{wall:.1f} img/s (12.5 without previews)"
    assert panel.stats.preview_share() == pytest.approx(24 / 32)
    assert not panel.notice_label.isHidden() and "Previews take 75%" in panel.notice_label.text()
    # the ETA uses the real (wall) rate: 96 steps left at 0.1 step/s
    assert panel.stats.text("eta") == "16:00"


def test_the_overhead_notice_uses_the_trainers_figures_not_the_rate_gap(qtbot, panel):
    """Issue 21: a step rate far above the wall rate (jitter, data loading) used to read as "previews take
    25-30 %" while the Trainer's log said 2 %: the notice now believes the Trainer's accounting only."""
    panel.stats.set_batch_size(25)
    events = [_step(s, 10.0 * s, images_per_s=12.5, overhead={"preview": 0.02 * 10.0 * s, "metrics": 0.0,
                                                              "checkpoint": 0.0}, session=10.0 * s)
              for s in range(1, 6)]
    panel._runner.progress.emit(events)
    assert panel.stats.preview_share() == pytest.approx(0.02)
    assert panel.notice_label.isHidden()


def test_the_stats_row_does_not_move_as_its_text_changes(qtbot):
    """Old #29: the training stats row moved as its numbers changed (a click landed on the wrong button)."""
    from ddpm_studio.gui.training.stats import ROW, TrainingStats

    stats = TrainingStats()
    qtbot.addWidget(stats)
    stats.resize(700, 120)
    stats.show()
    qtbot.waitExposed(stats)

    def positions() -> list[int]:
        qtbot.wait(1)  # the layout settles
        return [stats.labels[key].x() for key in ROW]

    before = positions()
    for key, text in (("status", "stopping (writing a checkpoint) …"), ("step", "4711 / 4711"),
                      ("speed", "1234.5 img/s (2345.6 without previews)"), ("eta", "12:34:56")):
        stats.set(key, text)
    assert positions() == before
    assert stats.text("status") == "stopping (writing a checkpoint) …"  # the whole text (elided only when painted)
