"""The UNet's augmentation conditioning (EDM's map_augment, data/augment.py): it changes the output, "not passed"
is exactly the zero vector, D = 0 is the old network (the shipped demo model samples bit for bit as before), and
every sampler evaluates an augmented model as not augmented."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from ddpm_studio.data.augment import AUGMENT_DIM
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.sampler_table import SAMPLERS, sample
from ddpm_studio.engine.sampling_config import SamplingConfig
from ddpm_studio.engine.unet import UNet, build_unet, count_parameters
from ddpm_studio.engine.unet_config import UNET_PRESETS, UNetConfig
from ddpm_studio.training.checkpoint import load_model

MICRO = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_heads=2,
                   attention_head_dim=8, norm_groups=4, in_channels=1)
DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "model.safetensors"
# the demo model's DDIM (4 steps, seed 0, 2 images, one thread) final x, sha256 of its float32 bytes, computed with
# the code before augment_dim existed (commit 8559ecb)
DEMO_GOLDEN = "b0f1e7c27261846eb51281dd17e12005d5f8e08cc0f27ddc14b1671de4e192e3"


def _net(seed: int = 0, **changes) -> UNet:
    torch.manual_seed(seed)
    return build_unet(MICRO.replace(**changes)).eval()


def _inputs(b: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return torch.randn((b, 1, 8, 8), generator=g), torch.tensor([3, 250, 500, 999])[:b]


def test_augment_dim_zero_is_the_network_without_it() -> None:
    plain, old_dict = _net(), MICRO.to_dict()
    assert plain.augment_embed is None and plain.augment_dim == 0
    assert count_parameters(build_unet(UNET_PRESETS["tiny"])) == 852_451  # the documented count is unchanged
    del old_dict["augment_dim"]  # a config.json written before the field existed
    assert UNetConfig.from_dict(old_dict) == MICRO


def test_the_augmentation_vector_changes_the_output_and_zeros_are_the_default() -> None:
    net = _net(augment_dim=AUGMENT_DIM)
    x, t = _inputs()
    with torch.no_grad():
        nothing = net(x, t)
        zeros = net(x, t, augment_labels=torch.zeros(4, AUGMENT_DIM))
        flipped = net(x, t, augment_labels=torch.eye(AUGMENT_DIM)[:4])
    assert torch.equal(nothing, zeros)  # bit for bit: the map has no bias
    assert (flipped - zeros).abs().flatten(1).amax(dim=1).min() > 1e-6  # every image's output moved


def test_the_other_layers_start_as_the_unconditioned_networks() -> None:
    plain, augmented = _net(), _net(augment_dim=AUGMENT_DIM)
    other = {k: v for k, v in augmented.state_dict().items() if not k.startswith("augment_embed")}
    assert other.keys() == plain.state_dict().keys()
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in other.items())
    x, t = _inputs()
    with torch.no_grad():
        assert torch.equal(plain(x, t), augmented(x, t))


def test_bad_augmentation_labels_are_clear_errors() -> None:
    x, t = _inputs()
    with pytest.raises(ValueError, match="not trained with augmentation"):
        _net()(x, t, augment_labels=torch.zeros(4, AUGMENT_DIM))
    with pytest.raises(ValueError, match=r"augmentation labels of shape \(4, 10\)"):
        _net(augment_dim=AUGMENT_DIM)(x, t, augment_labels=torch.zeros(4, 3))
    with pytest.raises(ValueError, match="augment_dim must be an integer >= 0"):
        MICRO.replace(augment_dim=-1)


def _demo_sample(model: torch.nn.Module, diffusion: GaussianDiffusion, size: int) -> torch.Tensor:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            *_, last = sample(model, diffusion, (2, 3, size, size), SamplingConfig(method="ddim", steps=4, seed=0,
                                                                                  count=2))
    finally:
        torch.set_num_threads(threads)
    return last.xt.contiguous()


def test_the_shipped_demo_model_samples_bit_for_bit_as_before() -> None:
    model, diffusion, config = load_model(DEMO)
    assert config.model.augment_dim == 0 and model.augment_embed is None
    x = _demo_sample(model, diffusion, config.data.image_size)
    assert hashlib.sha256(x.numpy().tobytes()).hexdigest() == DEMO_GOLDEN
    # its weights in a network with the augmentation map (left random) sample the same, since nothing is passed
    augmented = UNet(config.model.replace(augment_dim=AUGMENT_DIM))
    missing = augmented.load_state_dict(model.state_dict(), strict=False).missing_keys
    assert missing == ["augment_embed.weight"]
    assert torch.equal(_demo_sample(augmented.eval(), diffusion, config.data.image_size), x)


@pytest.mark.parametrize("method", list(SAMPLERS))
def test_every_sampler_evaluates_an_augmented_model_as_not_augmented(method: str) -> None:
    """The samplers call model(x, t) (or model(x, t, y)): an augmented model there is its zero-vector self, so
    its samples are those of the same weights without the map, and it never sees a non-zero vector."""
    augmented = _net(augment_dim=AUGMENT_DIM)
    with torch.no_grad():
        augmented.augment_embed.weight.mul_(50.0)  # a strong map: any vector that got through would show
    plain = _net()
    seen: list[object] = []
    augmented.register_forward_pre_hook(lambda _m, _args, kwargs: seen.append(kwargs.get("augment_labels")),
                                        with_kwargs=True)
    diffusion = GaussianDiffusion(DiffusionConfig(timesteps=20))
    config = SamplingConfig(method=method, steps=3, seed=1, count=2)
    with torch.no_grad():
        *_, a = sample(augmented, diffusion, (2, 1, 8, 8), config)
        *_, b = sample(plain, diffusion, (2, 1, 8, 8), config)
    assert seen and all(v is None for v in seen)
    assert torch.equal(a.xt, b.xt)
