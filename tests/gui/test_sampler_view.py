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
from ddpm_studio.gui.sampler.sampler_view import SamplerView
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


def exported(qtbot, view: SamplerView, action, path: Path) -> Path:
    """Start an export (it runs on the export thread) and wait for the file."""
    action(path)
    qtbot.waitUntil(lambda: not view.is_exporting(), timeout=WAIT_MS)
    assert view.export_error is None and view.exported == path
    return path


def plain(view: SamplerView) -> None:
    """Exports at native size without captions (exact sizes to check)."""
    view.controls.scale.setCurrentIndex(view.controls.scale.findData(1))
    view.controls.captions.setChecked(False)


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

    plain(view)
    gif = exported(qtbot, view, view.export_gif, tmp_path / "anim.gif")
    with Image.open(gif) as img:
        assert img.n_frames == 6
    png = exported(qtbot, view, view.export_png, tmp_path / "final.png")
    with Image.open(png) as img:
        assert img.size == (export.tile(frames[-1].xt).shape[1], export.tile(frames[-1].xt).shape[0])
    view.controls.strip_steps.setText("0, 3, -1")
    view.controls.scale.setCurrentIndex(view.controls.scale.findData(2))
    strip = exported(qtbot, view, view.export_strip, tmp_path / "strip.png")
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


def test_compare_ddim_vs_ddpm_from_the_same_noise(qtbot, view, tmp_path):
    c = view.controls
    c.method.setCurrentIndex(c.method.findData("ddim"))
    c.compare.setCurrentIndex(c.compare.findData("samplers"))
    assert c.method_b.currentData() == "ddpm" and c.method_b.isEnabled()
    view.controls.steps.setValue(5)
    sample(qtbot, view)
    assert view.recording.plan.frame_counts == (5, T)
    assert view.frame_count() == T  # the longer lane drives the player
    assert len(view.recording.frames[0]) == 5
    assert view.lane_frame(0, T - 1).index == 4  # the end of one lane lines up with the end of the other
    single = export.tile(view.recording.frames[0][-1].xt).shape[1]
    plain(view)
    with Image.open(exported(qtbot, view, view.export_png, tmp_path / "both.png")) as img:
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


# -- issue 13: exports off the GUI thread, captions and scale, DDPM's steps, progress, panes, controls -------------


def test_a_gif_export_runs_off_the_gui_thread_with_progress_and_can_be_cancelled(qtbot, view, tmp_path,
                                                                                 monkeypatch):
    import threading

    view.controls.method.setCurrentIndex(view.controls.method.findData("ddim"))
    view.controls.steps.setValue(T)
    sample(qtbot, view)
    threads, progress = [], []
    real_save_gif = export.save_gif

    def spy(*args, **kwargs):  # the real encoder, noting the thread it runs on
        threads.append(threading.get_ident())
        return real_save_gif(*args, **kwargs)

    monkeypatch.setattr(export, "save_gif", spy)
    view.exporter.progress.connect(lambda done, total: progress.append((done, total)))
    assert view.controls.gif_button.isEnabled() and view.controls.export_cancel.isHidden()
    path = tmp_path / "anim.gif"
    view.export_gif(path)
    assert view.is_exporting() and not view.controls.export_cancel.isHidden()  # returned at once, cancellable
    assert not view.controls.gif_button.isEnabled()
    qtbot.waitUntil(lambda: not view.is_exporting(), timeout=WAIT_MS)
    assert view.exported == path and path.is_file()
    assert threads and threads[0] != threading.get_ident()  # encoded on the export thread
    assert progress and progress[-1][0] == progress[-1][1] == T + 1
    assert view.controls.export_cancel.isHidden() and "Saved" in view.controls.status.text()

    # cancelled before the first frame: nothing written, the status says so
    cancelled = tmp_path / "cancelled.gif"
    monkeypatch.setattr(export, "save_gif", lambda *a, should_stop=None, **k: (
        qtbot.waitUntil(should_stop, timeout=WAIT_MS), real_save_gif(*a, should_stop=should_stop, **k))[1])
    view.export_gif(cancelled)
    qtbot.mouseClick(view.controls.export_cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.is_exporting(), timeout=WAIT_MS)
    assert not cancelled.exists() and view.exported is None
    assert "cancelled" in view.controls.status.text().lower()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cancelled")]  # no temporary file left


def test_exports_scale_with_crisp_pixels_and_carry_captions(qtbot, view, tmp_path):
    view.controls.compare.setCurrentIndex(view.controls.compare.findData("eta"))
    view.controls.steps.setValue(4)
    sample(qtbot, view)
    grid = export.tile(view.recording.frames[0][-1].xt)
    view.controls.captions.setChecked(False)
    view.controls.scale.setCurrentIndex(view.controls.scale.findData(3))
    with Image.open(exported(qtbot, view, view.export_png, tmp_path / "x3.png")) as img:
        pixels = np.asarray(img.convert("RGB"))
    assert pixels.shape[0] == 3 * grid.shape[0]
    assert np.array_equal(pixels[: 3 * grid.shape[0]: 3, : 3 * grid.shape[1]: 3], grid)  # nearest: exact blocks

    view.controls.captions.setChecked(True)
    with Image.open(exported(qtbot, view, view.export_png, tmp_path / "captioned.png")) as img:
        captioned = np.asarray(img.convert("RGB"))
    band = captioned.shape[0] - 3 * grid.shape[0]
    assert band > 10  # a caption band above each half
    half = captioned.shape[1] // 2
    for left in (0, half):  # each half has its own text (dark pixels in its band): which half is which
        assert (captioned[:band, left:left + half // 2] < 100).any()
    assert view.recording.captions[0].startswith("DDIM · 4 steps · η = 0")
    assert view.recording.captions[1].startswith("DDIM · 4 steps · η = 1")
    assert "tiny" in view.recording.captions[0]  # the checkpoint

    with Image.open(exported(qtbot, view, view.export_gif, tmp_path / "captioned.gif")) as img:
        img.seek(0)
        first = np.asarray(img.convert("RGB"))
        img.seek(img.n_frames - 1)
        last = np.asarray(img.convert("RGB"))
    assert view.recording.frame_caption(0) == f"step 1/4 · t = {view.recording.frames[0][0].t}"
    assert not np.array_equal(first[:16], last[:16])  # the step caption changes from frame to frame


def test_ddpm_shows_T_in_its_greyed_steps_field_and_the_cost_in_nfe(qtbot, view):
    c = view.controls
    c.method.setCurrentIndex(c.method.findData("ddim"))
    c.steps.setValue(7)
    assert c.nfe_label.text() == "7 network evaluations (NFE)"
    c.method.setCurrentIndex(c.method.findData("ddpm"))
    assert not c.steps.isEnabled() and c.steps.value() == T
    assert c.nfe_label.text() == f"{T} network evaluations (NFE)"
    c.method.setCurrentIndex(c.method.findData("heun"))
    assert c.steps.isEnabled() and c.steps.value() == 7  # the person's steps come back
    assert c.nfe_label.text() == "13 network evaluations (NFE)"  # Heun: 2 per step but the last
    assert not c.eta.isEnabled()  # η is DDIM's
    methods = [c.method.itemData(i) for i in range(c.method.count())]
    from ddpm_studio.engine import SAMPLERS
    assert methods[0] == "ddim" and sorted(methods) == sorted(SAMPLERS)  # the default first, then the table


def test_progress_bar_final_pane_and_cancel_state(qtbot, view):
    c = view.controls
    assert not c.cancel_button.isEnabled() and c.progress.isHidden()  # idle: nothing to cancel
    c.method.setCurrentIndex(c.method.findData("ddim"))
    c.steps.setValue(T)
    values = []
    view._runner.frame.connect(lambda _f: values.append((c.progress.value(), c.progress.maximum())))
    qtbot.mouseClick(c.sample_button, Qt.MouseButton.LeftButton)
    assert c.cancel_button.isEnabled() and not c.progress.isHidden()
    qtbot.waitUntil(lambda: view.finished_reason is not None, timeout=WAIT_MS)
    assert values and values[-1] == (T, T)  # frames done of frames planned
    assert c.progress.isHidden() and not c.cancel_button.isEnabled()
    _, xt_pane, x0_pane, _ = view.lanes.panes[0]
    view.player.set_current(view.frame_count() - 1)
    view._render()
    assert x0_pane.isHidden() and xt_pane.title.text() == "final image x₀"  # no second identical pane
    view.player.set_current(0)
    view._render()
    assert not x0_pane.isHidden()


def test_sample_and_cancel_are_never_clipped(qtbot, view):
    for size in ((1280, 760), (1024, 640)):
        view.resize(*size)
        view.show()
        qtbot.wait(50)
        for button in (view.controls.sample_button, view.controls.cancel_button):
            region = button.visibleRegion().boundingRect()
            assert button.isVisible() and region.size() == button.size(), (size, button.text())


def test_the_default_model_is_the_demo_not_a_throwaway_run(qtbot, tmp_path, tiny_run):
    import shutil

    from ddpm_studio.training.runs import DEMO_CHECKPOINT, runs_root

    runs_root().mkdir(parents=True, exist_ok=True)
    shutil.copytree(tiny_run, runs_root() / "throwaway")  # 3 steps: newer than the demo, not better
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    widget = SamplerView(AppState(settings=settings, device="cpu"))
    qtbot.addWidget(widget)
    combo = widget.controls.model_combo
    assert combo.count() == 3 and combo.currentData() == str(DEMO_CHECKPOINT)  # the run, the two shipped models
    assert widget.controls.steps.isEnabled()
    widget.controls.method.setCurrentIndex(widget.controls.method.findData("ddpm"))
    assert widget.controls.steps.value() == 1000  # the demo's T
    widget.shutdown(5.0)


def test_any_two_samplers_compare_and_two_etas_show_ddim_in_the_method_box(qtbot, view):
    """Issue 22 N12: 'two η values' switched to DDIM silently; only DDPM vs DDIM was offered."""
    from ddpm_studio.engine import SAMPLERS

    c = view.controls
    c.method.setCurrentIndex(c.method.findData("dpmpp_2m"))
    c.compare.setCurrentIndex(c.compare.findData("samplers"))
    assert [c.method_b.itemData(i) for i in range(c.method_b.count())] == list(SAMPLERS)
    c.method_b.setCurrentIndex(c.method_b.findData("heun"))
    c.steps.setValue(4)
    lanes = c.lane_specs()
    assert [lane.sampling.method for lane in lanes] == ["dpmpp_2m", "heun"]
    assert "+" in c.nfe_label.text()
    c.compare.setCurrentIndex(c.compare.findData("eta"))
    assert c.method.currentData() == "ddim" and not c.method.isEnabled()  # what runs is what the box says
    assert {lane.sampling.method for lane in c.lane_specs()} == {"ddim"}
    c.compare.setCurrentIndex(c.compare.findData("none"))
    assert c.method.isEnabled()
