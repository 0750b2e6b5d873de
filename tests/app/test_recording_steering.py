"""A steered sampling run's recording: captions say class and w, "all classes" pictures name each class row."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ddpm_studio.app import exports as export
from ddpm_studio.app.recording import ExportStyle, SamplerRecording, describe_lane, steering_words
from ddpm_studio.app.sampling import ALL_CLASSES, LaneSpec, SampleFrame, SamplingPlan
from ddpm_studio.engine import SamplingConfig

CLASSES = ("circle", "square", "triangle")


def recording(rows: tuple[str, ...]) -> SamplerRecording:
    """Two frames of 6 random 8x8 images, one row per class when `rows` are given."""
    r = SamplerRecording()
    r.begin(SamplingPlan(("a",), (2,), (2,), (rows,)), ["DDIM · all classes · w = 2"])
    rng = np.random.default_rng(0)
    for i in range(2):
        images = rng.integers(0, 255, (2, 6, 8, 8, 3), dtype=np.uint8)
        r.add(SampleFrame(0, i, i, 2, 10 - 10 * i, images[0], images[1]))
    return r


def test_steering_words_say_class_w_guide_and_knobs():
    cfg = SamplingConfig(guidance=2.0)
    assert steering_words(LaneSpec("a", Path("m.safetensors"), cfg)) == ""  # nothing steered: nothing said
    assert steering_words(LaneSpec("a", Path("m.safetensors"), cfg, class_name="triangle")) == "class triangle · w = 2"
    knobs = SamplingConfig(guidance=3.0, guidance_interval=(5, 15), guidance_rescale=0.7)
    assert steering_words(LaneSpec("a", Path("m.safetensors"), knobs, class_name=ALL_CLASSES)) == \
        "all classes · w = 3 · guided for t in [5, 15] · CFG-rescale 0.7"
    guided = LaneSpec("a", Path("m.safetensors"), cfg, guide=Path("/r/checkpoints/step_00000004.safetensors"))
    assert steering_words(guided) == "autoguided by r/step_00000004 · w = 2"
    assert "class triangle · w = 2" in describe_lane(LaneSpec("a", Path("m.safetensors"), cfg, class_name="triangle"),
                                                     50)


def test_all_classes_rows_are_laid_out_and_named():
    named, plain = recording(CLASSES), recording(())
    last = named.frames[0][-1].xt
    assert np.array_equal(named.grid(0, last), export.tile(last, ncols=2))  # a row of 2 per class
    assert np.array_equal(plain.grid(0, last), export.tile(last))  # an ordinary square grid
    style = ExportStyle(scale=2)
    assert named.styled_composite(1, style, 2).shape[1] > plain.styled_composite(1, style, 2).shape[1]
    strip = named.strips([0, 1], "x0", style)  # the first image of each class, a row each, named
    assert named.strips([0, 1], "x0").shape[0] == export.tile(last[:3], ncols=1).shape[0]  # 3 rows, not 4
    assert strip.shape[1] > named.strips([0, 1], "x0", ExportStyle(scale=2, captions=False)).shape[1]
    labelled = export.label_grid_rows(export.tile(last, ncols=2), CLASSES, image_height=8)
    assert labelled.shape[0] == export.tile(last, ncols=2).shape[0] and labelled.shape[1] > 40
