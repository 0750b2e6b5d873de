"""The `tiny` preset's depth follows the image size (a 4×4 bottleneck, engine/unet_config.py); other presets
keep theirs; a model is recognised as the preset it was built from at any depth, or at its size's depth."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ddpm_studio.engine import UNet
from ddpm_studio.engine.unet_config import UNET_PRESETS, deepened, preset_for_size, preset_of


@pytest.mark.parametrize(("size", "mults"), [(8, (1, 2, 2)), (16, (1, 2, 2)), (24, (1, 2, 2)), (28, (1, 2, 2)),
                                             (32, (1, 2, 2, 2)), (48, (1, 2, 2, 2)), (64, (1, 2, 2, 2, 2)),
                                             (256, (1, 2, 2, 2, 2, 2, 2)), (1024, (1, 2, 2, 2, 2, 2, 2))])
def test_tiny_gets_the_levels_that_bring_the_image_to_a_4x4_bottleneck(size, mults):
    model = preset_for_size("tiny", size)
    assert model.channel_mults == mults
    assert size % model.size_multiple == 0  # every size it deepens for still divides evenly
    bottleneck = size // model.size_multiple
    if len(mults) > 3:  # deepened: down to 4 px, and no further than one more halving would allow
        assert bottleneck >= 4 and (bottleneck // 2 < 4 or bottleneck % 2 or len(mults) == 7)


def test_the_deepened_unet_builds_and_keeps_the_image_shape():
    config = replace(preset_for_size("tiny", 32), in_channels=3)
    net = UNet(config)
    x = torch.randn(2, 3, 32, 32)
    assert net(x, torch.tensor([1, 500])).shape == x.shape
    assert sum(p.numel() for p in net.parameters()) == 1_152_803  # the figure the preset's comment gives


def test_other_presets_keep_their_depth():
    assert preset_for_size("small", 64) == UNET_PRESETS["small"]
    assert preset_for_size("ddpm128", 128) == UNET_PRESETS["ddpm128"]
    assert deepened(UNET_PRESETS["tiny"], 16) is UNET_PRESETS["tiny"]
    with pytest.raises(KeyError):
        preset_for_size("huge", 32)


def test_a_model_is_recognised_as_its_preset():
    at32 = replace(preset_for_size("tiny", 32), base_channels=48, in_channels=1, num_classes=3)
    assert preset_of(at32) == "tiny" and preset_of(at32, 32) == "tiny"
    shallow = UNET_PRESETS["tiny"]  # a run from before the rule, at 32 px
    assert preset_of(shallow) == "tiny"  # the runs table still calls it tiny
    assert preset_of(shallow, 32) is None  # but the form would not build it again at 32 px: custom
    assert preset_of(UNET_PRESETS["small"], 32) == "small"
    assert preset_of(replace(UNET_PRESETS["tiny"], num_res_blocks=3)) is None
