"""The Sampler's steering (issue 20): the class chooser, the guidance slider, the guide model, two guidance scales
from the same noise, the honest cost line, and exports named and captioned with class and w. On real tiny
class-conditional runs (random weights, a random class embedding so the classes differ) made in the test's home."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

import torch
from PIL import Image
from PySide6.QtCore import QSettings, Qt

from ddpm_studio.app import exports as export
from ddpm_studio.app.export_names import export_name, steering_caption, steering_name
from ddpm_studio.app.guides import guide_choices, guide_problem, model_classes
from ddpm_studio.app.sampling import ALL_CLASSES
from ddpm_studio.data.config import DataConfig
from ddpm_studio.engine import DiffusionConfig, UNet, UNetConfig
from ddpm_studio.gui.sampler.sampler_view import SamplerView
from ddpm_studio.gui.sampler.steering_controls import EVERY_CLASS, NO_CLASS
from ddpm_studio.gui.state import AppState
from ddpm_studio.training.checkpoint import checkpoint_name, save_checkpoint
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.runs import create_run, runs_root

WAIT_MS = 120_000
CLASSES = ("circle", "square", "triangle")
SOURCE = "builtin:shapes?n=48"


def conditional_run(name: str, *, steps: tuple[int, ...] = (1, 2), timesteps: int = 20) -> Path:
    """A run folder under the test's runs root with a tiny 3-class UNet saved at each of `steps`."""
    model = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, linear_attention=False,
                       mid_attention=False, attention_heads=1, attention_head_dim=8, norm_groups=4, num_classes=3)
    config = RunConfig(model=model, diffusion=DiffusionConfig(schedule="linear", timesteps=timesteps),
                       data=DataConfig(source=SOURCE, image_size=8, classes=CLASSES), training=TrainingConfig())
    run = create_run(config, root=runs_root(), name=name)
    run.checkpoints_dir.mkdir(exist_ok=True)
    for step in steps:
        torch.manual_seed(step)
        net = UNet(model)
        torch.nn.init.normal_(net.class_embed.weight, std=3.0)  # classes that visibly differ
        save_checkpoint(run.checkpoints_dir / checkpoint_name(step), config=config, step=step,
                        model_state=net.state_dict())
    return run.path


@pytest.fixture
def view(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    widget = SamplerView(AppState(settings=settings, device="cpu"))
    qtbot.addWidget(widget)
    c = widget.controls
    c.method.setCurrentIndex(c.method.findData("ddim"))
    c.steps.setValue(3)
    c.count.setValue(2)
    yield widget
    widget.shutdown(10.0)


def choose(combo, data) -> None:
    index = combo.findData(data)
    assert index >= 0, (data, [combo.itemData(i) for i in range(combo.count())])
    combo.setCurrentIndex(index)


def set_w(slider, w: float) -> None:
    """Drag the slider as a person would: one step is 0.25."""
    slider.setValue(round(w / 0.25))


def sample(qtbot, view: SamplerView) -> None:
    view.finished_reason = None
    qtbot.mouseClick(view.controls.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.finished_reason is not None, timeout=WAIT_MS)
    assert view.finished_reason == "completed", view.error


def final(view: SamplerView, lane: int) -> np.ndarray:
    return view.recording.frames[lane][-1].xt.astype(int)


def test_the_class_chooser_is_greyed_for_an_unconditional_model(view, tmp_path, save_random_checkpoint):
    s = view.controls.steering
    view.add_model(save_random_checkpoint(tmp_path / "plain.safetensors"))
    assert not s.class_combo.isEnabled() and "trained without classes" in s.class_combo.toolTip()
    assert s.class_combo.currentText() == NO_CLASS and s.class_combo.count() == 1
    assert not s.guidance.isEnabled() and "Choose a class or a guide model" in s.guidance.toolTip()
    assert view.sampling_config().guidance == 1.0  # nothing steered: the plain model, whatever the slider says
    assert model_classes(tmp_path / "plain.safetensors") == ()
    choose(view.controls.compare, "guidance")  # two guidance scales of a model with nothing to guide: said, not run
    view.start()
    assert not view.is_busy() and view.controls.status.text() == \
        "Two guidance scales need a class (of a class-conditional model) or a guide model."
    choose(view.controls.compare, "none")

    view.add_model(conditional_run("cond"))
    items = [s.class_combo.itemText(i) for i in range(s.class_combo.count())]
    assert s.class_combo.isEnabled() and items == [NO_CLASS, *CLASSES, EVERY_CLASS]
    choose(s.class_combo, "circle")
    tip = s.guidance.toolTip()
    assert s.guidance.isEnabled() and "w = 1 is the plain conditional model, w = 0 the unconditional" in tip


def test_the_slider_reaches_the_sampling_config_and_the_cost_says_the_batch_doubles(view):
    c, s = view.controls, view.controls.steering
    view.add_model(conditional_run("cond"))
    choose(s.class_combo, "square")
    set_w(s.guidance, 3.0)
    assert s.guidance.isEnabled() and s.w_label.text() == "w = 3.00"
    lane = view.lane_specs()[0]
    assert lane.class_name == "square" and lane.sampling.guidance == 3.0 and view.sampling_config().guidance == 3.0
    assert c.nfe_label.text() == "3 network evaluations (NFE) × 2 (guidance batch)"  # steps stay 3
    s.interval_check.setChecked(True)
    s.t_lo.setValue(2)
    s.t_hi.setValue(15)
    s.rescale.setValue(14)  # φ = 0.7
    cfg = view.sampling_config()
    assert cfg.guidance_interval == (2, 15) and cfg.guidance_rescale == pytest.approx(0.7)
    set_w(s.guidance, 1.0)  # the plain conditional model: one prediction per image
    assert c.nfe_label.text() == "3 network evaluations (NFE)"
    choose(s.class_combo, None)
    assert not s.guidance.isEnabled() and view.sampling_config().guidance == 1.0


def test_all_classes_lays_out_one_named_row_per_class_and_exports_say_class_and_w(qtbot, view, tmp_path):
    s = view.controls.steering
    view.add_model(conditional_run("cond"))
    choose(s.class_combo, ALL_CLASSES)
    set_w(s.guidance, 2.0)
    assert view.export_name("grid", ".png") == "cond-ddim-3steps-allclasses-w2-grid.png"
    sample(qtbot, view)
    images = view.recording.frames[0][-1].xt
    assert images.shape[0] == 6  # 3 classes x 2 images, one row per class
    title, xt_pane, _, _ = view.lanes.panes[0]
    assert view.lanes.row_names(0) == CLASSES and xt_pane.row_labels() == CLASSES
    assert np.array_equal(xt_pane.image(), export.tile(images, ncols=2))  # a row of 2 per class
    assert "all classes · w = 2" in title.text()
    assert "all classes · w = 2" in view.recording.captions[0]
    assert view.quality.asked == "every class alike, w = 2"  # Evaluate's protocol says what the samples asked for
    assert "(every class alike, w = 2)" in view.quality.status.text()

    view.controls.scale.setCurrentIndex(view.controls.scale.findData(1))
    png = tmp_path / view.export_name("grid", ".png")
    view.export_png(png)
    qtbot.waitUntil(lambda: not view.is_exporting(), timeout=WAIT_MS)
    assert view.export_error is None and png.name == "cond-ddim-3steps-allclasses-w2-grid.png"
    grid = export.tile(images, ncols=2)
    with Image.open(png) as picture:  # the grid, the class names at its left, the caption above
        assert picture.width > grid.shape[1] + 20 and picture.height > grid.shape[0]
        pixels = np.asarray(picture.convert("L"))
    assert (pixels[-grid.shape[0]:, :20] < 128).any()  # dark text of a row name left of the images

    gif = tmp_path / "all.gif"
    view.export_gif(gif)  # each frame: the x_t and x0 grids one row per class, the names at the left
    qtbot.waitUntil(lambda: not view.is_exporting(), timeout=WAIT_MS)
    assert view.export_error is None
    composite = view.recording.styled_composite(0, view.controls.export_style(), 1)
    assert composite.shape[1] > 2 * grid.shape[1] + 20
    strip = view.recording.strips([0, 2], "x0")  # the first image of each class, a row each
    assert strip.shape[0] == export.tile(images[:3], ncols=1).shape[0]


def test_lane_b_takes_its_own_w_from_the_same_noise(qtbot, view):
    c, s = view.controls, view.controls.steering
    view.add_model(conditional_run("cond"))
    choose(c.compare, "guidance")
    assert s.class_b.isEnabled() and not s.guidance_b.isEnabled()  # lane B has no class yet: w means nothing
    choose(s.class_combo, "triangle")
    choose(s.class_b, "triangle")
    assert s.guidance_b.isEnabled()
    set_w(s.guidance, 1.0)
    set_w(s.guidance_b, 4.0)
    assert "× 2 on lane B (guidance batch)" in c.nfe_label.text()
    a, b = view.lane_specs()
    assert (a.sampling.guidance, b.sampling.guidance) == (1.0, 4.0) and a.label != b.label
    assert view.export_name("grid", ".png") == "cond-ddim-3steps-triangle-w1-vs-w4-grid.png"
    sample(qtbot, view)
    lane_a, lane_b = final(view, 0), final(view, 1)
    assert np.abs(lane_a - lane_b).max() > 10  # w moved the samples

    choose(c.compare, "none")  # lane B's settings alone, as one lane: the seed's own x_T
    set_w(s.guidance, 4.0)
    sample(qtbot, view)
    assert np.abs(final(view, 0) - lane_b).max() <= 1  # lane B had started from that same x_T


def test_guide_models_on_offer_and_a_mismatched_guide_is_one_line(qtbot, view, tmp_path):
    s = view.controls.steering
    main = conditional_run("cond", steps=(1, 2))
    other = conditional_run("other-t", steps=(1,), timesteps=10)  # same data, another T
    view.refresh_models()
    view.add_model(main)
    offered = {s.guide_combo.itemText(i): s.guide_combo.itemData(i) for i in range(s.guide_combo.count())}
    earlier = str(main / "checkpoints" / checkpoint_name(1))
    assert offered["earlier checkpoint: step 1"] == earlier and offered["run other-t (step 1)"] == str(other)
    assert [g.label for g in guide_choices(main)][:1] == ["earlier checkpoint: step 1"]

    choose(s.guide_combo, str(other))
    assert view.guide_error == "other-t cannot guide this model: the guide model differs in timesteps T (10 vs " \
                               "the model's 20)"
    assert view.controls.status.text() == view.guide_error and "\n" not in view.guide_error
    assert s.guidance.isEnabled()  # a guide alone makes w mean something (autoguidance)
    qtbot.mouseClick(view.controls.sample_button, Qt.MouseButton.LeftButton)
    assert not view.is_busy() and view.finished_reason is None  # refused before sampling; nothing crashed

    s.add_guide(tmp_path / "gone.safetensors")
    assert "is not there" in view.guide_error
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    s.add_guide(junk)
    assert view.guide_error == "junk.safetensors is not a checkpoint or run folder of DDPM Studio: it cannot guide"

    choose(s.guide_combo, earlier)
    assert view.guide_error is None and guide_problem(main, earlier) is None
    choose(s.class_combo, "circle")
    set_w(s.guidance, 2.0)
    assert "× 2 (guide network)" in view.controls.nfe_label.text()
    assert view.export_name("grid", ".png") == "cond-ddim-3steps-circle-autoguided-w2-grid.png"
    sample(qtbot, view)
    assert "autoguided by cond/step_00000001 · w = 2" in view.recording.captions[0]


def test_the_evaluate_protocol_says_what_the_samples_asked_for():
    assert steering_caption("triangle", 2.0, conditional=True) == "class triangle, w = 2"
    assert steering_caption("triangle", 1.0, conditional=True) == "class triangle"
    assert steering_caption(ALL_CLASSES, 3.0, conditional=True) == "every class alike, w = 3"
    assert steering_caption(None, 2.0, conditional=True) == "no class (the null class)"  # w is not used then
    assert steering_caption(None, 1.0, conditional=False) == ""  # an unconditional model: nothing to say
    assert steering_caption(None, 2.0, conditional=False, autoguided=True) == "autoguided, w = 2"
    assert steering_caption("circle", 2.0, conditional=True, autoguided=True) == "class circle, autoguided, w = 2"


def test_file_names_carry_class_and_w():
    assert steering_name("triangle", 2.0) == "triangle-w2" and steering_name(ALL_CLASSES, 1.5) == "allclasses-w1.5"
    assert steering_name(None, 3.0) == "" and steering_name(None, 2.0, autoguided=True) == "autoguided-w2"
    assert export_name("grid", ".png", checkpoint="/x/demo-ish.safetensors", method="ddim", steps=50,
                       steering="triangle-w2") == "demo-ish-ddim-50steps-triangle-w2-grid.png"
    assert replace(DataConfig(), classes=CLASSES).classes == CLASSES
