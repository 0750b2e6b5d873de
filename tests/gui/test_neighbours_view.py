"""The sampler view's quality pane: click a sample to see its 3 nearest training images with distances, a
memorisation warning on an exact copy, and Evaluate beside the real-vs-real floor (on worker threads)."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from ddpm_studio.data import DataConfig, load_dataset
from ddpm_studio.gui.neighbours_view import SampleQualityPanel

SOURCE = "builtin:shapes?n=40&size=16"
WAIT_MS = 60_000


@pytest.fixture
def pane(qtbot):
    widget = SampleQualityPanel()
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown(5.0)


def training_images():
    return load_dataset(DataConfig(source=SOURCE, image_size=8, hflip=False)).uint8_images()  # (N, 8, 8, 3)


def fresh_images():
    return load_dataset(DataConfig(source="builtin:shapes?n=8&size=16&seed=99", image_size=8)).uint8_images()


def test_an_exact_copy_shows_three_neighbours_and_a_warning(qtbot, pane):
    train = training_images()
    samples = fresh_images().copy()
    samples[2] = train[7]  # a sample that is training image #7
    pane.set_samples(samples, SOURCE)
    assert pane.thumbs.count() == 8 and pane.evaluate_button.isEnabled()
    pane.thumbs.setCurrentRow(2)  # click the copied sample
    qtbot.waitUntil(lambda: pane.neighbours.result is not None, timeout=WAIT_MS)
    view = pane.neighbours
    assert view.neighbour_count() == 3 and len(view.image_labels) == 4  # the sample and its 3 nearest
    assert view.result.indices[0] == 7 and view.result.distances[0] == 0.0
    assert view.caption_labels[1].text().startswith("#7  d = 0.000")
    assert list(view.result.distances) == sorted(view.result.distances)
    assert view.result.memorised and not view.warning_label.isHidden()
    assert "memorisation" in view.warning_label.text()


def test_a_fresh_sample_has_no_warning(qtbot, pane):
    pane.set_samples(fresh_images(), SOURCE)
    pane.thumbs.setCurrentRow(0)
    qtbot.waitUntil(lambda: pane.neighbours.result is not None, timeout=WAIT_MS)
    assert pane.neighbours.neighbour_count() == 3 and pane.neighbours.result.distances[0] > 0.05
    assert not pane.neighbours.result.memorised and pane.neighbours.warning_label.isHidden()


def test_evaluate_shows_metrics_beside_the_floor(qtbot, pane):
    pane.set_samples(fresh_images(), SOURCE)
    pane.evaluate_button.click()
    qtbot.waitUntil(lambda: pane.evaluation is not None or pane.error is not None, timeout=WAIT_MS)
    assert pane.error is None
    text = pane.table.text()
    assert "real vs real" in text and "SWD" in text and "recall" in text
    assert pane.evaluation.report.sample_count == 8 and pane.evaluation.floor.sample_count == 8
    assert pane.evaluate_button.isEnabled()
