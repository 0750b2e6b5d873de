"""Issue 21 items 2 and 5 in the Training tab: the learning-rate / gradient-norm / loss plot against step, images
seen or training time; the quality curve's error band, protocol caption and floor note; CSV and PNG export of a
plot's data and image."""

from __future__ import annotations

import csv

import pytest

pytest.importorskip("pytestqt")

from PIL import Image

from ddpm_studio.evaluation import Protocol
from ddpm_studio.gui.training.loss_plot import LossPlot
from ddpm_studio.gui.training.metric_plot import MetricPlot
from ddpm_studio.gui.training.scalar_plot import ScalarPlot
from ddpm_studio.gui.widgets.plot_export import write_csv, write_png
from ddpm_studio.training.events import MetricsEvent, StepEvent

PROTOCOL = Protocol(64, "dpmpp_2m", 10, "builtin:shapes?seed=1000", 256)


def step(n: int, grad_norm: float | None = 1.5) -> StepEvent:
    return StepEvent(step=n, epoch=1, loss=1.0 / n, lr=1e-3 * n, images_per_s=10.0, elapsed_s=30.0 * n,
                     total_steps=10, grad_norm=grad_norm, images_seen=16 * n)


def test_lr_and_grad_norm_against_step_images_and_time(qtbot):
    plot = ScalarPlot()
    qtbot.addWidget(plot)
    plot.set_batch_size(16)
    for n in (1, 2, 3):
        plot.append(step(n, grad_norm=float(n)))
    plot._redraw()
    assert plot.curve_key == "lr" and plot.series()[1].tolist() == pytest.approx([1e-3, 2e-3, 3e-3])
    plot.set_curve("grad_norm")
    assert plot.series()[1].tolist() == [1.0, 2.0, 3.0]
    plot.set_x("images")
    assert plot.series()[0].tolist() == [16, 32, 48]
    plot.set_x("time")
    assert plot.series()[0].tolist() == [0.5, 1.0, 1.5]  # minutes of training time, from the run's start
    plot.append(step(2, grad_norm=9.0))  # a resume from step 1 trains step 2 again: steps 2, 3 replaced
    plot.set_x("step")
    assert plot.series()[0].tolist() == [1, 2] and plot.series()[1].tolist() == [1.0, 9.0]


def test_an_old_history_without_grad_norm_loads_and_says_so(qtbot):
    plot = ScalarPlot()
    qtbot.addWidget(plot)
    plot.set_batch_size(8)
    plot.set_history([{"step": 1, "epoch": 1, "loss": 0.5, "lr": 1e-4, "time": 2.0},
                      {"step": 2, "epoch": 1, "loss": 0.4, "lr": 2e-4, "time": 4.0}])
    plot.set_x("images")
    assert plot.series()[0].tolist() == [8, 16]  # images seen from step × batch
    plot.set_curve("grad_norm")
    assert plot.series()[0].size == 0 and "no gradient norm" in plot.empty_label.text()


def test_quality_band_protocol_and_floor_note(qtbot):
    plot = MetricPlot()
    qtbot.addWidget(plot)
    floor, floor_errors = {"swd": 40.0}, {"swd": 3.0}
    for n, (swd, error) in enumerate([(120.0, 8.0), (60.0, 5.0), (42.0, 4.0)], start=1):
        plot.add_point(MetricsEvent(step=100 * n, elapsed_s=float(n), metrics={"swd": swd}, seconds=1.0,
                                    floor=floor, best_step=300, errors={"swd": error}, floor_errors=floor_errors,
                                    protocol=PROTOCOL))
    assert plot.band.isVisible() and plot.floor_band.isVisible()
    assert plot.band.boundingRect().height() > 0 and plot.floor_band.boundingRect().height() > 0  # a filled band
    upper = plot._upper.getData()[1].tolist()
    assert upper == [128.0, 65.0, 46.0]
    caption = plot.caption_label.text()
    assert "64 samples · DPM-Solver++(2M) 10 · vs 256 real" in caption
    assert "step 300: 42 ± 4 · real 40 ± 3" in caption and "within error of the floor" in caption
    assert "SWD 42 ± 4" in plot.best_label.text()


def test_an_old_runs_curve_has_no_band_and_says_the_protocol_is_unknown(qtbot):
    plot = MetricPlot()
    qtbot.addWidget(plot)
    for n in (1, 2):
        plot.add_point(MetricsEvent(step=n, elapsed_s=1.0, metrics={"swd": 50.0 + n}, seconds=1.0,
                                    floor={"swd": 40.0}, best_step=1))
    assert not plot.band.isVisible() and "protocol not stored" in plot.caption_label.text()


def test_csv_and_png_export(qtbot, tmp_path):
    plot = MetricPlot()
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    plot.add_point(MetricsEvent(step=10, elapsed_s=1.0, metrics={"swd": 50.0}, seconds=1.0, floor={"swd": 40.0},
                                floor_errors={"swd": 2.0}, errors={"swd": 5.0}, protocol=PROTOCOL))
    path = write_csv(tmp_path / "q.csv", *plot.table())
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["step", "swd", "swd_error", "floor", "floor_error", "protocol"]
    assert rows[1][:5] == ["10", "50.0", "5.0", "40.0", "2.0"] and "64 samples" in rows[1][5]
    png = write_png(plot.plot, tmp_path / "q.png")
    with Image.open(png) as image:
        assert image.size[0] >= 400 and image.getextrema() != ((255, 255), (255, 255), (255, 255))
    loss = LossPlot()
    qtbot.addWidget(loss)
    for n in (1, 2, 3):
        loss.append(n, 1.0 / n)
    header, data = loss.table()
    assert header == ["step", "loss", "smoothed"] and [r[0] for r in data] == [1, 2, 3]
    menu = [a.text() for a in loss.plot.getPlotItem().getViewBox().menu.actions()]
    assert "Export data as CSV…" in menu and "Export image as PNG…" in menu
