"""Plot axes read plainly (issue 22 N9, issue 13 item 13): no SI prefix, plain log ticks, a lone point framed
with whole numbers, 0–1 scores on a 0–1 axis, and no numbers on an empty plot."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("pytestqt")

from ddpm_studio.gui.training.metric_plot import MetricPlot
from ddpm_studio.gui.widgets.plot_axes import PlainAxis, plain_number
from ddpm_studio.training.events import MetricsEvent


def _event(step: int, **metrics: float) -> MetricsEvent:
    return MetricsEvent(step=step, metrics=metrics, floor=None, best_step=None, elapsed_s=1.0, seconds=1.0)


def test_plain_numbers_and_log_ticks(qtbot):
    assert [plain_number(v) for v in (10.0, 2000.0, 0.25, 0.0)] == ["10", "2000", "0.25", "0"]
    axis = PlainAxis("bottom")
    assert axis.autoSIPrefix is False
    values = axis.logTickValues(math.log10(8), math.log10(120), 600, None)[0][1]
    assert axis.logTickStrings(values, 1.0, 1.0) == ["10", "20", "50", "100"]  # not "10¹, 2·10¹"


def test_a_lone_point_is_framed_with_whole_numbers_and_recall_on_0_to_1(qtbot):
    plot = MetricPlot()
    qtbot.addWidget(plot)
    assert plot.plot.getAxis("left").style["showValues"] is False  # empty: no 0.1–0.9
    plot.add_point(_event(900, swd=60.0, precision=0.93, recall=0.94, memorised=0.0))
    assert plot.plot.getAxis("left").style["showValues"] is True
    (x0, x1), _ = plot.plot.getViewBox().viewRange()
    assert x0 == math.floor(x0) and x1 == math.ceil(x1) and x0 < 900 < x1 and x1 - x0 >= 2  # not 899.6…900.4
    plot.set_metric("recall")
    _, (y0, y1) = plot.plot.getViewBox().viewRange()
    assert y0 <= 0 < 1 <= y1 and y1 - y0 < 1.1
    assert plot.plot.getAxis("left").labelUnitPrefix == ""  # no "(x0.001)"


def test_compare_and_probe_plots_are_plain_and_empty_without_numbers(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from ddpm_studio.gui.compare.compare_samplers_view import CompareSamplersView
    from ddpm_studio.gui.probe.probe_view import ProbeView
    from ddpm_studio.gui.state import AppState

    state = AppState(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    for view, plot in ((CompareSamplersView(state), "plot"), (ProbeView(state), "error_plot")):
        qtbot.addWidget(view)
        widget = getattr(view, plot)
        assert isinstance(widget.getAxis("bottom"), PlainAxis) and isinstance(widget.getAxis("left"), PlainAxis)
        assert widget.getAxis("left").style["showValues"] is False
