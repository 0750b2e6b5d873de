"""The validation loss beside the training loss (issue 24 item 2): a second curve with its protocol in the legend,
live from the Trainer's events, restored when a run is reopened; a set too small to hold anything out says so."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")


from ddpm_studio.app.training import TrainingJob, prepare
from ddpm_studio.data import DataConfig
from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
from ddpm_studio.gui.training.loss_plot import LossPlot
from ddpm_studio.gui.training.task import Notice, TrainingControl, training_task
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.events import ValidationEvent

CAPTION = "validation (32 held-out images, fixed noise, 8 timesteps)"


def _config(images: int, steps: int = 2) -> RunConfig:
    return RunConfig(model=UNET_PRESETS["tiny"].replace(base_channels=8, channel_mults=(1, 2), norm_groups=4),
                     diffusion=DiffusionConfig(timesteps=20),
                     data=DataConfig(source=f"builtin:shapes?n={images}", image_size=8, labels="none"),
                     training=TrainingConfig(batch_size=8, max_steps=steps, warmup_steps=1, validation_every_steps=1,
                                             preview_every_epochs=0, preview_time_share=0.0, metrics_time_share=0.0,
                                             device="cpu", mixed_precision="no", num_threads=1))


def _event(step: int, loss: float) -> ValidationEvent:
    return ValidationEvent(step=step, elapsed_s=float(step), loss=loss, images=32, timesteps=(1, 3, 6, 8, 11, 13, 16,
                                                                                               18), seconds=0.1)


def test_the_validation_curve_is_a_second_curve_with_its_protocol_in_the_legend(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    for step in range(1, 301):
        plot.append(step, 1.0 / step)
    assert plot.legend_names() == ["loss", "smoothed"] and plot.validation_caption() is None
    plot.add_validation(100, 0.05, CAPTION)
    plot.add_validation(200, 0.04, CAPTION)
    plot._redraw()
    assert plot.legend_names() == ["loss", "smoothed", CAPTION]
    steps, values = plot.validation_data()
    assert steps.tolist() == [100, 200] and values.tolist() == [0.05, 0.04]
    assert plot._validation.getData()[0].tolist() == [100, 200]  # drawn
    assert plot.last_label.text().endswith("validation 0.04")
    header, rows = plot.table()
    assert header[-1] == "validation" and rows[99][-1] == 0.05 and rows[100][-1] == ""
    plot.add_validation(150, 0.045, CAPTION)  # a resume from an older checkpoint scores 150 again: 200 is gone
    assert plot.validation_data()[0].tolist() == [100, 150]
    plot.clear()
    assert plot.legend_names() == ["loss", "smoothed"] and plot.validation_data()[0].size == 0


def test_points_arrive_from_the_workers_events(panel):
    panel._runner.progress.emit(_event(10, 0.5))  # what the training task reports from the Trainer
    panel._runner.progress.emit(_event(20, 0.4))
    assert panel.loss_plot.validation_data()[1].tolist() == [0.5, 0.4]
    assert panel.loss_plot.validation_caption() == CAPTION


def test_a_reopened_run_shows_its_validation_curve(panel, tmp_path):
    prepare(TrainingJob(config=_config(120), runs_dir=tmp_path, name="v")).run_training(lambda _e: None)
    assert panel.open_run(tmp_path / "v")
    assert panel.loss_plot.validation_data()[0].tolist() == [1, 2]
    assert panel.loss_plot.validation_caption() == CAPTION
    assert CAPTION in panel.loss_plot.legend_names()


def test_a_set_too_small_to_hold_anything_out_says_so_in_the_training_tab(tmp_path):
    snapshots = []
    job = TrainingJob(config=_config(16, steps=1), runs_dir=tmp_path, name="small")
    training_task(job, TrainingControl())(lambda: False, lambda snapshot, *_: snapshots.append(snapshot))
    notices = [s.text for s in snapshots if isinstance(s, Notice)]
    assert notices == ["16 images are too few to hold out a validation split (it takes at least 96); training on "
                       "all of them without a validation loss."]



def test_a_new_run_from_the_form_decides_its_own_split(panel):
    from dataclasses import replace

    reopened = _config(120)
    panel.form.set_run_config(replace(reopened, training=replace(reopened.training, validation_images=32)))
    assert panel.form.run_config().training.validation_images is None  # another data set: another split
