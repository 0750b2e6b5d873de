"""The quality curve beside the loss: points from the worker's MetricsEvents, restored when a run is reopened."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("pytestqt")


from ddpm_studio.data import DataConfig, load_dataset
from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
from ddpm_studio.gui.training.metric_plot import EMPTY_MESSAGE, MetricPlot
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.events import MetricsEvent
from ddpm_studio.training.quality_monitor import read_metrics
from ddpm_studio.training.runs import create_run
from ddpm_studio.training.trainer import Trainer

FLOOR = {"swd": 40.0, "precision": 0.9, "recall": 0.9, "memorised": 0.0}


def point(step: int, swd: float, best: int) -> MetricsEvent:
    return MetricsEvent(step=step, elapsed_s=float(step), metrics={"swd": swd, "precision": 0.5, "recall": 0.4,
                                                                   "memorised": 0.0},
                        seconds=1.0, floor=FLOOR, best_step=best)


def test_points_arrive_from_the_workers_events(qtbot, panel):
    plot = panel.metric_plot
    assert plot.series()[0].size == 0 and plot.empty_label.text() == EMPTY_MESSAGE and not plot.empty_label.isHidden()
    panel._runner.progress.emit(point(100, 120.0, 100))  # what the training task reports from the Trainer
    panel._runner.progress.emit(point(200, 80.0, 200))
    panel._runner.progress.emit(point(300, 95.0, 200))
    steps, values = plot.series()
    assert steps.tolist() == [100, 200, 300] and values.tolist() == [120.0, 80.0, 95.0]
    assert plot.floor_value() == 40.0 and plot.floor_line.isVisible() and plot.floor_line.value() == 40.0
    assert plot.best_step == 200 and "best: step 200" in plot.best_label.text()
    assert plot.best_marker.getData()[1].tolist() == [80.0] and plot.empty_label.isHidden()
    plot.set_metric("recall")
    assert plot.series()[1].tolist() == [0.4, 0.4, 0.4] and plot.floor_value() == 0.9


def test_a_trained_runs_curve_is_restored_on_reopen(qtbot, panel, tmp_path):
    config = RunConfig(
        model=UNET_PRESETS["tiny"].replace(base_channels=16, in_channels=3),
        diffusion=DiffusionConfig(timesteps=20),
        data=DataConfig(source="builtin:shapes?n=16&size=16", image_size=16),
        training=TrainingConfig(batch_size=4, max_steps=4, warmup_steps=1, preview_every_epochs=0,
                                preview_time_share=0.0, device="cpu", mixed_precision="no", num_threads=1,
                                metrics_every_steps=2, metrics_count=8, metrics_sampler_steps=2,
                                metrics_reference_count=8))
    run = create_run(config, root=tmp_path / "runs", name="scored")
    events = []
    Trainer(config, load_dataset(config.data), run, device="cpu").run(events.append)
    live = [e for e in events if isinstance(e, MetricsEvent)]
    assert [e.step for e in live] == [2, 4]
    assert panel.open_run(run.path)
    steps, values = panel.metric_plot.series()
    assert steps.tolist() == [2, 4] and values.tolist() == [e.metrics["swd"] for e in live]
    assert panel.metric_plot.floor_value() == live[0].floor["swd"]
    assert panel.metric_plot.best_step == read_metrics(run.path).best_step == live[-1].best_step
    unscored = create_run(replace(config, training=replace(config.training, max_steps=1)), root=tmp_path / "runs",
                          name="unscored")
    assert panel.open_run(unscored.path)  # another run without metrics.jsonl: the curve empties
    assert panel.metric_plot.series()[0].size == 0 and not panel.metric_plot.empty_label.isHidden()


def test_plot_alone_loads_and_clears(qtbot, tmp_path):
    plot = MetricPlot()
    qtbot.addWidget(plot)
    plot.load_run(tmp_path)  # no files: empty, no error
    assert plot.series()[0].size == 0 and plot.best_step is None and not plot.floor_line.isVisible()
    plot.add_point(point(10, 50.0, 10))
    plot.clear()
    assert plot.series()[0].size == 0 and plot.best_label.text() == ""
