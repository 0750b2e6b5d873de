"""TrainingForm: the learning-rate schedule and the UNet block reach the RunConfig; reopened runs show theirs."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings

from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.training.form import TrainingForm
from ddpm_studio.gui.training.panel import TrainingPanel


@pytest.fixture
def form(qtbot):
    widget = TrainingForm()
    qtbot.addWidget(widget)
    widget.source.setText("builtin:shapes")
    return widget


def _choose(form: TrainingForm, schedule: str) -> None:
    form.lr_schedule.setCurrentIndex(form.lr_schedule.findData(schedule))


def test_new_runs_default_to_cosine_and_the_choice_ends_up_in_the_config(qtbot, form):
    assert form.lr_schedule.currentData() == "cosine"
    assert form.run_config().training.lr_schedule == "cosine"
    with qtbot.waitSignal(form.changed, timeout=1000):
        _choose(form, "constant")
    assert form.run_config().training.lr_schedule == "constant"
    assert form.problem() is None


def test_a_reopened_run_shows_its_own_schedule(form):
    config = form.run_config()
    form.set_run_config(replace(config, training=replace(config.training, lr_schedule="constant")))
    assert form.lr_schedule.currentData() == "constant"
    assert form.run_config().training.lr_schedule == "constant"


def test_cosine_on_a_run_shorter_than_its_warm_up_disables_start_with_a_reason(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    panel = TrainingPanel(AppState(settings=settings, device="cpu"))
    qtbot.addWidget(panel)
    form = panel.form
    form.source.setText("builtin:shapes")
    form.by_steps.setChecked(True)
    form.length.setValue(50)  # the default warm-up is 100 steps
    assert not panel.start_button.isEnabled()
    assert "warm-up" in panel.problem_label.text() and not panel.problem_label.isHidden()
    _choose(form, "constant")
    assert panel.start_button.isEnabled() and panel.problem_label.isHidden()
    _choose(form, "cosine")
    form.length.setValue(101)
    assert panel.start_button.isEnabled()
    panel.shutdown(5.0)


def test_the_block_choice_reaches_the_model_config_and_a_reopened_run_keeps_its_preset(qtbot, form):
    assert form.block.currentData() == "resnet" and form.run_config().model.block == "resnet"
    with qtbot.waitSignal(form.changed, timeout=1000):
        form.block.setCurrentIndex(form.block.findData("convnext"))
    config = form.run_config()
    assert config.model.block == "convnext" and form.problem() is None
    fresh = TrainingForm()
    qtbot.addWidget(fresh)
    fresh.set_run_config(config)
    assert fresh.preset.currentData() == "tiny" and fresh.block.currentData() == "convnext"
    assert fresh.run_config().model == config.model


def test_switching_the_length_unit_gives_a_sensible_number_per_unit(qtbot):
    """Issue 22 N7: 2000 steps switched to minutes stayed 2000 (33 hours)."""
    from ddpm_studio.gui.training.form import FIRST_LENGTH, TrainingForm

    form = TrainingForm()
    qtbot.addWidget(form)
    steps = form.length.value()
    form.by_minutes.setChecked(True)
    assert form.length.value() == FIRST_LENGTH["minutes"] and form.length.suffix() == " min"
    assert form.length_choice() == (None, None, float(FIRST_LENGTH["minutes"]))
    form.length.setValue(25)
    form.by_epochs.setChecked(True)
    assert form.length.value() == FIRST_LENGTH["epochs"] and form.length.suffix() == " epochs"
    form.by_steps.setChecked(True)
    assert form.length.value() == steps
    form.by_minutes.setChecked(True)
    assert form.length.value() == 25  # each unit keeps its own number


def test_post_hoc_ema_is_off_by_default_and_the_box_reaches_the_config(qtbot, form):
    assert not form.posthoc_ema.isChecked() and form.run_config().training.posthoc_ema is False
    with qtbot.waitSignal(form.changed, timeout=1000):
        form.posthoc_ema.setChecked(True)
    config = form.run_config()
    assert config.training.posthoc_ema is True
    form.set_run_config(replace(config, training=replace(config.training, posthoc_ema=False)))  # a reopened run
    assert not form.posthoc_ema.isChecked()
