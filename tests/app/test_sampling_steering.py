"""Steering through the app's sampling session: classes by name, one row per class, autoguidance's guide check."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ddpm_studio.app.chunked_sampling import final_images
from ddpm_studio.app.sampling import (
    ALL_CLASSES,
    LaneSpec,
    SamplingSession,
    class_labels,
    guide_mismatch,
    load_for_sampling,
    steered,
)
from ddpm_studio.data.config import DataConfig
from ddpm_studio.engine import DiffusionConfig, SamplingConfig, UNet, UNetConfig
from ddpm_studio.training.checkpoint import save_checkpoint
from ddpm_studio.training.config import RunConfig, TrainingConfig

CLASSES = ("circle", "square", "triangle")


def _conditional_checkpoint(path, timesteps: int = 20, seed: int = 0):
    model = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, linear_attention=False,
                       mid_attention=False, attention_heads=1, attention_head_dim=8, norm_groups=4, num_classes=3)
    config = RunConfig(model=model, diffusion=DiffusionConfig(schedule="linear", timesteps=timesteps),
                       data=DataConfig(source="builtin:shapes?n=48", image_size=8, classes=CLASSES),
                       training=TrainingConfig())
    torch.manual_seed(seed)
    net = UNet(model)
    torch.nn.init.normal_(net.class_embed.weight)
    return save_checkpoint(path, config=config, step=1, model_state=net.state_dict())


def _final(session: SamplingSession):
    return list(session.frames())[-1].xt


def test_class_names_and_their_errors():
    assert class_labels(CLASSES, None) == () and class_labels(CLASSES, "square") == (1,)
    assert class_labels(CLASSES, ALL_CLASSES) == (0, 1, 2)
    with pytest.raises(ValueError, match="unknown class 'dog'; the model's classes are circle, square, triangle"):
        class_labels(CLASSES, "dog")
    with pytest.raises(ValueError, match="asked of an unconditional model"):
        class_labels((), "circle")
    config = steered(SamplingConfig(count=2), CLASSES, ALL_CLASSES)
    assert config.count == 6 and config.labels == (0, 0, 1, 1, 2, 2)


def test_all_classes_share_the_noise_row_by_row(tmp_path):
    path = _conditional_checkpoint(tmp_path / "c.safetensors")
    sampling = SamplingConfig(method="ddim", steps=3, count=2, seed=3)
    rows = _final(SamplingSession((LaneSpec("all", path, replace(sampling, guidance=0.0), class_name=ALL_CLASSES),),
                                  device="cpu"))
    assert rows.shape[0] == 6  # w = 0: the unconditional model, so every row is the same images
    assert abs(rows[0:2].astype(int) - rows[4:6].astype(int)).max() <= 1
    guided = _final(SamplingSession((LaneSpec("all", path, replace(sampling, guidance=3.0),
                                              class_name=ALL_CLASSES),), device="cpu"))
    assert abs(guided[0:2].astype(int) - guided[4:6].astype(int)).max() > 10
    one = _final(SamplingSession((LaneSpec("sq", path, replace(sampling, guidance=3.0), class_name="square"),),
                                 device="cpu"))
    assert abs(one.astype(int) - guided[2:4].astype(int)).max() <= 1  # row "square" is the square-only sample


def test_a_guide_of_another_shape_or_data_is_refused(tmp_path):
    main = _conditional_checkpoint(tmp_path / "a.safetensors")
    other_t = _conditional_checkpoint(tmp_path / "b.safetensors", timesteps=10)
    weak = _conditional_checkpoint(tmp_path / "w.safetensors", seed=1)
    a, b = load_for_sampling(main, torch.device("cpu")).config, load_for_sampling(other_t, torch.device("cpu")).config
    assert guide_mismatch(a, b) == "the guide model differs in timesteps T (10 vs the model's 20)"
    other_data = replace(a, data=replace(a.data, source="builtin:glyphs"))
    assert "data source (builtin:glyphs vs the model's builtin:shapes?n=48)" in guide_mismatch(a, other_data)
    sampling = SamplingConfig(method="euler", steps=3, count=2, guidance=2.0)
    with pytest.raises(ValueError, match="b.safetensors cannot guide this model: the guide model differs in"):
        SamplingSession((LaneSpec("x", main, sampling, class_name="circle", guide=other_t),), device="cpu").start()
    images = _final(SamplingSession((LaneSpec("x", main, sampling, class_name="circle", guide=weak),), device="cpu"))
    assert images.shape == (2, 8, 8, 3)


def test_final_images_slices_per_image_labels(tmp_path):
    loaded = load_for_sampling(_conditional_checkpoint(tmp_path / "c.safetensors"), torch.device("cpu"))
    config = SamplingConfig(method="ddim", steps=2, count=4, labels=(0, 1, 2, 0), guidance=2.0)
    whole = final_images(loaded.model, loaded.diffusion, loaded.shape, config, batch_size=4, device="cpu")
    halves = final_images(loaded.model, loaded.diffusion, loaded.shape, config, batch_size=2, device="cpu")
    torch.testing.assert_close(whole, halves, rtol=1e-4, atol=1e-4)
