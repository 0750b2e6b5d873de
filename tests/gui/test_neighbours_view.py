"""The sampler view's quality pane: click a sample to see its 3 nearest training images with distances, a
memorisation warning on an exact copy, and Evaluate beside the real-vs-real floor (on worker threads)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from ddpm_studio.data import DataConfig, load_dataset
from ddpm_studio.gui.sampler.sample_quality_view import SampleQualityPanel

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
    assert view.caption_labels[1].text().startswith("shapes_00007\nd = 0.000")  # the file, not "#7" (N13)
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
    # issue 21: every value ± its error, the protocol stated, fewer than 64 samples warned about
    assert text.count("±") >= 6
    assert "8 samples · vs 12 real" in pane.status.text() or "8 samples" in pane.status.text()
    assert "only 8 samples" in pane.status.text()
    assert "bootstrap" in pane.table.toolTip()


def test_the_protocol_names_the_sampler_when_told(qtbot, pane):
    pane.set_samples(fresh_images(), SOURCE, sampler="ddim", steps=7)
    assert "Fewer than 64 samples" in pane.status.text()  # warned before Evaluate too
    pane.evaluate_button.click()
    qtbot.waitUntil(lambda: pane.evaluation is not None or pane.error is not None, timeout=WAIT_MS)
    assert pane.error is None and pane.evaluation.protocol.sampler == "ddim"
    assert "8 samples · DDIM 7 · vs" in pane.status.text()


def _checkpoint(path, hflip: bool):

    from ddpm_studio.engine import DiffusionConfig, UNet, UNetConfig
    from ddpm_studio.training.checkpoint import save_checkpoint
    from ddpm_studio.training.config import RunConfig, TrainingConfig

    model = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, linear_attention=False,
                       mid_attention=False, attention_heads=1, attention_head_dim=8, norm_groups=4)
    config = RunConfig(model=model, diffusion=DiffusionConfig(schedule="linear", timesteps=20),
                       data=DataConfig(source=SOURCE, image_size=8, hflip=hflip), training=TrainingConfig())
    return save_checkpoint(path, config=config, step=1, model_state=UNet(model).state_dict())


@pytest.mark.parametrize("hflip", [True, False])
def test_mirrored_matches_only_for_a_run_trained_on_flips(qtbot, pane, tmp_path, hflip):
    """Issue 22 N13: '(mirrored)' was flagged for a run trained without flips."""
    train = training_images()
    samples = fresh_images().copy()
    samples[2] = train[7][:, ::-1]  # the mirror image of training image 7
    pane.set_samples(samples, SOURCE, checkpoint=_checkpoint(tmp_path / "m.safetensors", hflip))
    pane.thumbs.setCurrentRow(2)
    qtbot.waitUntil(lambda: pane.neighbours.result is not None, timeout=WAIT_MS)
    result = pane.neighbours.result
    assert result.mirrored[0] is hflip and (result.distances[0] < 0.01) is hflip
    assert ("(mirrored)" in pane.neighbours.caption_labels[1].text()) is hflip


def test_the_strip_of_64_samples_shows_its_numbers_above_the_scroll_bar(qtbot, pane):
    """Issue 22 N13: the scroll bar covered the numbers at 64 samples."""
    pane.set_samples(np.repeat(fresh_images(), 8, axis=0), SOURCE)
    pane.resize(500, 400)
    pane.show()
    qtbot.waitExposed(pane)
    qtbot.waitUntil(pane.thumbs.horizontalScrollBar().isVisible)
    item_height = pane.thumbs.visualItemRect(pane.thumbs.item(0)).height()
    assert pane.thumbs.viewport().height() >= item_height


def test_the_selected_sample_keeps_its_colours(qtbot, pane):
    """Old #11: the sample strip tinted the selected sample blue."""
    from ddpm_studio.gui.widgets.image_utils import qimage_to_array

    samples = np.zeros((4, 8, 8, 3), np.uint8)
    samples[:] = (200, 30, 30)
    pane.set_samples(samples, SOURCE)
    pane.resize(500, 300)
    pane.show()
    qtbot.waitExposed(pane)
    pane.thumbs.blockSignals(True)  # select without asking for neighbours
    pane.thumbs.setCurrentRow(1)
    pane.thumbs.blockSignals(False)
    pane.thumbs.viewport().repaint()
    shot = qimage_to_array(pane.thumbs.viewport().grab().toImage())
    selected, plain = (pane.thumbs.visualItemRect(pane.thumbs.item(r)) for r in (1, 2))
    icon_centre = [(rect.top() + 4 + 24, rect.center().x()) for rect in (selected, plain)]
    np.testing.assert_array_equal(shot[icon_centre[0]][:3], [200, 30, 30])
    np.testing.assert_array_equal(shot[icon_centre[0]], shot[icon_centre[1]])


def test_the_pane_keeps_its_height_as_its_texts_change(qtbot, pane):
    """Old #29: the Evaluate button and the canvas above it moved as the pane's texts changed."""
    pane.resize(600, 500)
    pane.show()
    qtbot.waitExposed(pane)
    before = pane.sizeHint().height(), pane.minimumSizeHint().height()
    pane.set_samples(fresh_images(), SOURCE)
    pane.status.setText("a status long enough to wrap onto a second line of the pane, which used to push the rest "
                        "of the pane and the canvas around")
    pane.table.setText("<table>" + "<tr><td>x</td></tr>" * 5 + "</table>")
    pane.thumbs.setCurrentRow(0)
    qtbot.waitUntil(lambda: pane.neighbours.result is not None, timeout=WAIT_MS)
    assert (pane.sizeHint().height(), pane.minimumSizeHint().height()) == before
