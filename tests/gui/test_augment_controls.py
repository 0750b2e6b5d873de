"""Augmentation in the faces: the Training form's combo (same config.json as `train --augment`), and the Dataset
tab's "what training sees" showing augmented examples where a new run would augment."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings

pytest.importorskip("pytestqt")

from ddpm_studio.cli import build_parser, config_from_args
from ddpm_studio.data.augment import augment
from ddpm_studio.data.transforms import ImageTransform, to_uint8
from ddpm_studio.gui.dataset.dataset_view import DatasetView
from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.training.form import TrainingForm
from ddpm_studio.gui.widgets.image_utils import qimage_to_array
from ddpm_studio.training.config import AUGMENT_MODES, RunConfig, TrainingConfig, augmentation_is_on
from tests.gui.test_dataset_view import make_folder, wait_scan


def test_the_form_offers_off_on_auto_and_gives_the_clis_config(qtbot):
    form = TrainingForm()
    qtbot.addWidget(form)
    assert [form.augment.itemData(i) for i in range(form.augment.count())] == list(AUGMENT_MODES)
    assert form.augment.currentData() == TrainingConfig().augment
    form.augment.setCurrentIndex(form.augment.findData("on"))
    assert form.problem() is None
    cli = config_from_args(build_parser().parse_args(["train", "--augment", "on"]))
    assert form.run_config().to_json() == cli.to_json()
    assert form.run_config().training.augment == "on"


def test_a_reopened_runs_augmentation_is_shown_and_an_old_run_is_off(qtbot):
    form = TrainingForm()
    qtbot.addWidget(form)
    config = RunConfig()
    augmented = config.from_dict({**config.to_dict(), "model": {**config.model.to_dict(), "augment_dim": 10},
                                  "training": {**config.training.to_dict(), "augment": "on"}})
    form.set_run_config(augmented)
    assert form.augment.currentData() == "on" and form.preset.currentData() == "tiny"  # not "custom"
    old = config.to_dict()
    del old["training"]["augment"], old["training"]["augment_p"], old["model"]["augment_dim"]
    form.set_run_config(RunConfig.from_dict(old))
    assert form.augment.currentData() == "off"


@pytest.fixture
def view(qtbot, tmp_path):
    state = AppState(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat), device="cpu")
    widget = DatasetView(state)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.shutdown()


def _shown(qtbot, view, augmented: bool) -> np.ndarray:
    qtbot.waitUntil(lambda: view.preview_label.property("preview") is not None
                    and ("augmented with p = 0.12" in view.preview_note.text()) == augmented, timeout=10_000)
    return qimage_to_array(view.preview_label.property("preview"))


def test_what_training_sees_shows_augmented_examples_for_a_small_set(qtbot, tmp_path, view):
    state = view.state
    state.set_source(str(make_folder(tmp_path / "pictures", good=8)))
    wait_scan(qtbot, view)
    # the box follows what a new run's default would do with 8 images; "auto" would augment them
    assert view.augment_box.isChecked() == augmentation_is_on(TrainingConfig().augment, 8)
    assert augmentation_is_on("auto", 8) and not augmentation_is_on("auto", 1000)
    view.augment_box.setChecked(True)
    view.size_combo.setCurrentText("16×16")
    shown = _shown(qtbot, view, augmented=True)
    indices = state.selected_indices
    clean = torch.stack([ImageTransform(16, 3)(state.source.load(i)) for i in indices])
    expected = augment(clean, 0.12, torch.Generator().manual_seed(0))
    assert expected.labels.ne(0).any()  # the fixed draw does augment some of these
    grid = to_uint8(expected.x)
    for k in range(len(indices)):  # 4 columns, 1 px padding
        r, c = divmod(k, 4)
        tile = shown[1 + r * 17:1 + r * 17 + 16, 1 + c * 17:1 + c * 17 + 16]
        np.testing.assert_array_equal(tile, grid[k])
    view.augment_box.setChecked(False)
    shown = _shown(qtbot, view, augmented=False)
    np.testing.assert_array_equal(shown[1:17, 1:17], to_uint8(clean[0]))
