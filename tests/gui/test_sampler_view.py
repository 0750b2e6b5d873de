"""SamplerView on a tiny checkpoint made in tmp_path: frames stream in, the slider scrubs, exports are readable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PIL import Image
from PySide6.QtCore import QSettings, Qt

from ddpm_studio.app import exports as export
from ddpm_studio.data import DataConfig, load_dataset
from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
from ddpm_studio.gui.sampler_view import SamplerView
from ddpm_studio.gui.state import AppState
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.runs import create_run
from ddpm_studio.training.trainer import Trainer

WAIT_MS = 120_000
T = 10


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A run folder holding a checkpoint of a 16x16 tiny UNet trained for 3 steps (T = 10)."""
    config = RunConfig(
        model=UNET_PRESETS["tiny"].replace(base_channels=16, in_channels=3),
        diffusion=DiffusionConfig(timesteps=T),
        data=DataConfig(source="builtin:shapes?n=16&size=16", image_size=16),
        training=TrainingConfig(batch_size=4, max_steps=3, warmup_steps=1, preview_every_epochs=0,
                                device="cpu", mixed_precision="no"),
    )
    run = create_run(config, root=tmp_path_factory.mktemp("runs"), name="tiny")
    Trainer(config, load_dataset(config.data), run, device="cpu").run(lambda event: None)
    assert run.latest_checkpoint() is not None
    return run.path


@pytest.fixture
def view(qtbot, tmp_path, tiny_run):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    widget = SamplerView(AppState(settings=settings, device="cpu"))
    qtbot.addWidget(widget)
    widget.add_model(tiny_run, "tiny")
    widget.controls.count.setValue(4)
    yield widget
    widget.shutdown(10.0)


def sample(qtbot, view: SamplerView) -> None:
    qtbot.mouseClick(view.controls.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.finished_reason is not None, timeout=WAIT_MS)
    assert view.finished_reason == "completed", view.error


def test_ddim_frames_scrub_and_exports(qtbot, view, tmp_path):
    view.controls.method.setCurrentIndex(view.controls.method.findData("ddim"))
    view.controls.steps.setValue(6)
    view.controls.show_eps.setChecked(True)
    sample(qtbot, view)
    assert view.frame_count() == 6
    frames = view.recording.frames[0]
    assert [f.index for f in frames] == list(range(6)) and frames[-1].t == 0
    assert frames[0].xt.shape == (4, 16, 16, 3) and frames[0].xt.dtype == np.uint8
    assert frames[0].eps is not None

    view.player.slider.setValue(2)  # scrub to the third frame
    _, xt_pane, x0_pane, _ = view.lanes.panes[0]
    qtbot.waitUntil(lambda: np.array_equal(x0_pane.image(), export.tile(frames[2].x0)), timeout=5000)
    assert np.array_equal(xt_pane.image(), export.tile(frames[2].xt))
    assert "frame 3/6" in view.player.info_text() and f"t = {frames[2].t}" in view.player.info_text()

    gif = view.export_gif(tmp_path / "anim.gif")
    with Image.open(gif) as img:
        assert img.n_frames == 6
    png = view.export_png(tmp_path / "final.png")
    with Image.open(png) as img:
        assert img.size == (export.tile(frames[-1].xt).shape[1], export.tile(frames[-1].xt).shape[0])
    view.controls.strip_steps.setText("0, 3, -1")
    strip = view.export_strip(tmp_path / "strip.png")
    with Image.open(strip) as img:
        # three columns of steps, four rows of samples, each 16 px + 2 px padding, saved at 2x
        assert img.size == (2 * 3 * (16 + 4), 2 * (4 * 18 + 2))


def test_ddpm_runs_all_T_steps_with_averaging(qtbot, view):
    view.controls.method.setCurrentIndex(view.controls.method.findData("ddpm"))
    view.controls.average.setValue(3)
    view.controls.count.setValue(2)
    sample(qtbot, view)
    assert view.frame_count() == T
    assert view.recording.frames[0][-1].xt.shape == (2, 16, 16, 3)


def test_compare_ddpm_vs_ddim_from_the_same_noise(qtbot, view, tmp_path):
    view.controls.compare.setCurrentIndex(view.controls.compare.findData("ddpm_ddim"))
    view.controls.steps.setValue(5)
    sample(qtbot, view)
    assert view.recording.plan.frame_counts == (T, 5)
    assert view.frame_count() == T  # the longer lane drives the player
    assert len(view.recording.frames[1]) == 5
    assert view.lane_frame(1, T - 1).index == 4  # the end of one lane lines up with the end of the other
    single = export.tile(view.recording.frames[0][-1].xt).shape[1]
    with Image.open(view.export_png(tmp_path / "both.png")) as img:
        assert img.width > 2 * single - 1


def test_bad_model_is_reported(qtbot, view, tmp_path):
    view.add_model(tmp_path / "missing-run")
    qtbot.mouseClick(view.controls.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.finished_reason == "failed", timeout=WAIT_MS)
    assert view.error and view.controls.status.text() == view.error


def test_steps_beyond_T_are_reported_not_clamped(qtbot, view):
    """The engine decides what steps are valid (one place): DDIM with more steps than T is an error."""
    view.controls.method.setCurrentIndex(view.controls.method.findData("ddim"))
    view.controls.steps.setValue(T + 5)
    qtbot.mouseClick(view.controls.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.finished_reason == "failed", timeout=WAIT_MS)
    assert "steps" in view.error and str(T) in view.error
