"""LossPlot (issue 13 items 9 and 13): a bias-corrected smoothed curve with a slider, a readable log axis, an empty
state and a minimum height."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from ddpm_studio.gui.training.loss_plot import MIN_PLOT_HEIGHT, NO_STEPS_MESSAGE, LossPlot, smoothed


@pytest.fixture
def plot(qtbot):
    widget = LossPlot()
    qtbot.addWidget(widget)
    widget.resize(600, 320)
    widget.show()
    return widget


def test_smoothing_is_bias_corrected_and_follows_a_falling_loss(plot):
    steps = np.arange(1, 86)
    losses = 0.1 + 0.9 * np.exp(-steps / 20.0)  # falls from ~1 to ~0.14 by step 85
    plot.set_history(steps, losses)
    _, raw, smooth = plot.data()
    # bias-corrected: the first smoothed value is the first loss, not (1 - w) times it
    assert smooth[0] == pytest.approx(raw[0])
    # TensorBoard's formula, step by step
    w = plot.smoothing()
    ema = norm = 0.0
    for i, x in enumerate(raw):
        ema, norm = w * ema + (1 - w) * x, w * norm + (1 - w)
        assert smooth[i] == pytest.approx(ema / norm)
    # the symptom: at step 85 the smoothed curve sat far above every raw point since step ~30
    assert smooth[-1] < raw[40]
    assert smooth[-1] - raw[-1] < 0.05


def test_the_slider_sets_the_weight_and_recomputes_the_curve(qtbot, plot):
    losses = [1.0, 0.0] * 20
    plot.set_history(range(40), losses)
    plot.smoothing_slider.setValue(0)  # no smoothing: the smoothed curve is the raw one
    assert plot.smoothing() == 0.0
    _, raw, smooth = plot.data()
    assert np.allclose(smooth, raw)
    plot.smoothing_slider.setValue(95)
    assert plot.smoothing() == pytest.approx(0.95) and plot.smoothing_label.text() == "0.95"
    _, _, smooth = plot.data()
    assert np.allclose(smooth, smoothed(np.asarray(losses, float), 0.95))
    plot.append(40, 1.0)  # later points continue the recomputed average
    _, raw, smooth = plot.data()
    assert smooth[-1] == pytest.approx(smoothed(raw, 0.95)[-1])


def test_an_empty_plot_says_so_and_has_no_axis_values(qtbot, plot):
    assert plot.is_empty_shown() and plot._empty.toPlainText() == NO_STEPS_MESSAGE
    assert not plot.plot.getAxis("left").style["showValues"]
    plot.append(1, 0.5)
    qtbot.waitUntil(lambda: not plot.is_empty_shown(), timeout=2000)
    assert plot.plot.getAxis("left").style["showValues"]
    plot.clear()
    assert plot.is_empty_shown()


def test_the_log_axis_labels_few_plain_values_and_the_plot_keeps_a_minimum_height(qtbot, plot):
    assert plot.plot.minimumHeight() >= MIN_PLOT_HEIGHT
    steps = np.arange(1, 500)
    plot.set_history(steps, 0.02 + np.exp(-steps / 60.0))  # ~1.0 down to 0.02: about two decades
    plot.set_log_scale(True)
    axis = plot.plot.getAxis("left")
    low, high = plot.plot.getViewBox().viewRange()[1]
    for height in (120, 200, 400):
        levels = axis.tickValues(low, high, height)
        values = [v for _spacing, level in levels for v in level]
        assert 2 <= len(values) <= max(2, height // 40), (height, values)
        labels = axis.tickStrings(values, 1.0, 1.0)
        assert len(set(labels)) == len(labels) and all(len(text) <= 5 for text in labels)
        assert all(math.isfinite(10 ** v) for v in values)
    # within less than a decade there are still labelled values (2 and 5 multiples)
    levels = axis.tickValues(math.log10(0.03), math.log10(0.3), 200)
    assert sorted(axis.tickStrings(levels[0][1], 1.0, 1.0)) == sorted(["0.05", "0.1", "0.2"])


def test_the_last_and_smoothed_values_are_never_elided(qtbot):
    """Issue 22 N8: beside the controls, 'smoothed 0.1…' was cut at 1280 px and all of it at 1024."""
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(330, 260)  # the loss column's width at 1024 px
    plot.show()
    qtbot.waitExposed(plot)
    for step in range(1, 40):
        plot.append(step, 0.123456 / step)
    plot._redraw()
    text = plot.last_label.text()
    assert text.startswith("last ") and "smoothed " in text and "…" not in text
    qtbot.waitUntil(lambda: plot.last_label.width() >= plot.last_label.fontMetrics().horizontalAdvance(text))
    assert plot.last_label.minimumSizeHint().width() < plot.width()  # the values never widen the column


def test_steps_trained_again_replace_the_lost_ones_instead_of_looping_back(qtbot):
    """Issue 23 F20: after a resume from an older checkpoint the curve looped back over the lost steps."""
    from ddpm_studio.gui.training.loss_plot import LossPlot

    plot = LossPlot()
    qtbot.addWidget(plot)
    for step in range(1, 11):
        plot.append(step, 1.0 / step)
    for step in range(6, 9):  # resumed from the step-5 checkpoint: steps 6.. again
        plot.append(step, 2.0)
    steps, values, _ = plot.data()
    assert steps.tolist() == [1, 2, 3, 4, 5, 6, 7, 8] and values.tolist()[-3:] == [2.0, 2.0, 2.0]
