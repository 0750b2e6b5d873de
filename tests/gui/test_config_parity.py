"""The CLI and the GUI give the same config.json for the same choices (one set of defaults, one config policy)."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from ddpm_studio.cli import build_parser, config_from_args
from ddpm_studio.gui.training.form import TrainingForm
from ddpm_studio.training.config import RunConfig


def _cli_json(*flags: str) -> str:
    return config_from_args(build_parser().parse_args(["train", *flags])).to_json()


def _pick(combo, data) -> None:
    index = combo.findData(data)
    assert index >= 0, (data, [combo.itemData(i) for i in range(combo.count())])
    combo.setCurrentIndex(index)


def test_defaults_are_the_same_in_both_faces(qtbot):
    form = TrainingForm()
    qtbot.addWidget(form)
    assert form.problem() is None
    assert form.run_config().to_json() == _cli_json() == RunConfig().to_json()


def test_the_same_choices_give_the_same_config_json(qtbot):
    form = TrainingForm()
    qtbot.addWidget(form)
    form.source.setText("builtin:glyphs")
    _pick(form.image_size, 16)
    _pick(form.channels, 1)
    form.hflip.setChecked(False)
    _pick(form.preset, "small")
    form.width.setValue(32)
    _pick(form.block, "convnext")
    _pick(form.schedule, "linear")
    form.timesteps.setValue(500)
    _pick(form.objective, "eps")
    _pick(form.loss, "l1")
    form.batch.setValue(8)
    form.lr.setValue(3e-4)
    _pick(form.lr_schedule, "constant")
    form.by_epochs.setChecked(True)
    form.length.setValue(3)
    form.ema.setValue(0.99)
    _pick(form.device, "cpu")
    form.preview_every.setValue(2)
    form.preview_count.setValue(4)
    form.checkpoint_every.setValue(100)
    cli = _cli_json("--data", "builtin:glyphs", "--size", "16", "--channels", "1", "--no-hflip", "--preset", "small",
                    "--base-channels", "32", "--block", "convnext", "--schedule", "linear", "--timesteps", "500",
                    "--objective", "eps", "--loss", "l1", "--batch-size", "8", "--lr", "3e-4", "--lr-schedule",
                    "constant", "--epochs", "3", "--ema-decay", "0.99", "--device", "cpu", "--preview-every", "2",
                    "--preview-count", "4", "--checkpoint-every", "100")
    assert form.problem() is None
    assert form.run_config().to_json() == cli


def test_combo_boxes_offer_exactly_the_configs_choice_lists(qtbot):
    from ddpm_studio.engine import SCHEDULE_NAMES
    from ddpm_studio.engine.config import OBJECTIVES
    from ddpm_studio.engine.losses import LOSS_NAMES
    from ddpm_studio.training.config import LR_SCHEDULES, MIXED_PRECISION_MODES

    form = TrainingForm()
    qtbot.addWidget(form)
    for combo, choices in ((form.schedule, SCHEDULE_NAMES), (form.objective, OBJECTIVES), (form.loss, LOSS_NAMES),
                           (form.lr_schedule, LR_SCHEDULES), (form.precision, MIXED_PRECISION_MODES)):
        assert [combo.itemData(i) for i in range(combo.count())] == list(choices)


def test_a_time_budget_gives_the_same_config_json_in_both_faces(qtbot):
    """Issue 10 item 1: "train for N minutes" is a choice of the form, as `--minutes N` is of the CLI; the
    form's preview field at 0 is the automatic time share, not "never"."""
    form = TrainingForm()
    qtbot.addWidget(form)
    form.by_minutes.setChecked(True)
    form.length.setValue(30)
    assert form.problem() is None
    config = form.run_config()
    assert (config.training.max_minutes, config.training.max_steps, config.training.epochs) == (30.0, None, None)
    assert config.to_json() == _cli_json("--minutes", "30")
    assert form.preview_every.value() == 0 and "auto" in form.preview_every.specialValueText()
    reopened = TrainingForm()
    qtbot.addWidget(reopened)
    reopened.set_run_config(config)  # a reopened budget run shows its budget
    assert reopened.by_minutes.isChecked() and reopened.length.value() == 30
    assert reopened.run_config().to_json() == config.to_json()
