"""UNet ε_θ(x_t, t): shapes, configuration, time conditioning, layouts, and that it can learn (CPU, tiny)."""

from __future__ import annotations

import json

import pytest
import torch

from ddpm_studio.engine.unet import UNet, build_unet, count_parameters
from ddpm_studio.engine.unet_config import UNET_PRESETS, UNetConfig

# A reduced "tiny": same structure (linear attention per level, SDPA in the middle), far fewer channels.
MICRO = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_heads=2,
                   attention_head_dim=8, norm_groups=4)


def _net(seed: int = 0, **changes) -> UNet:
    torch.manual_seed(seed)
    return build_unet(MICRO.replace(**changes)).eval()


def _t(batch: int) -> torch.Tensor:
    return torch.arange(batch, dtype=torch.long) * 97 % 1000


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(8, 8), (16, 16), (32, 32), (8, 24)])
def test_shape_is_kept(channels: int, size: tuple[int, int]) -> None:
    net = _net(in_channels=channels)
    x = torch.randn(2, channels, *size)
    with torch.no_grad():
        y = net(x, _t(2))
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_three_levels_keep_shape_on_non_square_input() -> None:
    net = _net(channel_mults=(1, 2, 2))
    x = torch.randn(2, 3, 16, 8)
    with torch.no_grad():
        assert net(x, _t(2)).shape == x.shape


@pytest.mark.parametrize("channels", [1, 3])
def test_learned_variance_doubles_out_channels(channels: int) -> None:
    net = _net(in_channels=channels, learned_variance=True)
    assert net.config.out_channels == 2 * channels
    with torch.no_grad():
        y = net(torch.randn(2, channels, 8, 8), _t(2))
    assert y.shape == (2, 2 * channels, 8, 8)


@pytest.mark.parametrize("size", [(10, 16), (16, 6), (7, 7)])
def test_size_not_divisible_is_a_clear_value_error(size: tuple[int, int]) -> None:
    net = _net(channel_mults=(1, 2, 2))  # 3 levels -> multiples of 4
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(1, 3, *size), _t(1))


def test_wrong_channels_and_timesteps_are_value_errors() -> None:
    net = _net()
    with pytest.raises(ValueError, match="expected x of shape"):
        net(torch.randn(1, 1, 8, 8), _t(1))
    with pytest.raises(ValueError, match="expected t of shape"):
        net(torch.randn(2, 3, 8, 8), _t(3))


def test_convnext_variant_runs_and_backpropagates() -> None:
    net = _net(block="convnext").train()
    x = torch.randn(2, 3, 16, 16)
    y = net(x, _t(2))
    assert y.shape == x.shape
    y.square().mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # The time embedding reaches the ConvNeXt blocks (it is added, so its projection gets a gradient).
    proj = net.down[0].blocks[0].emb_proj.weight.grad
    assert proj.abs().sum() > 0


@pytest.mark.parametrize("block", ["resnet", "convnext"])
def test_time_conditioning_changes_the_output(block: str) -> None:
    net = _net(block=block)
    x = torch.randn(2, 3, 8, 8).repeat(2, 1, 1, 1)  # the same two images twice
    t = torch.tensor([0, 10, 500, 999])
    with torch.no_grad():
        y = net(x, t)
    assert (y[0] - y[2]).abs().max() > 1e-4
    assert (y[1] - y[3]).abs().max() > 1e-4
    with torch.no_grad():  # and equal t gives equal output (no hidden randomness in eval mode)
        assert torch.equal(net(x[:2], t[:2]), net(x[:2], t[:2]))


def test_float_timesteps_are_accepted() -> None:
    net = _net()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        a = net(x, torch.tensor([3, 700]))
        b = net(x, torch.tensor([3.0, 700.0]))
    torch.testing.assert_close(a, b)


def test_without_attention_and_with_dropout() -> None:
    net = _net(linear_attention=False, mid_attention=False, dropout=0.1, num_res_blocks=2)
    with torch.no_grad():
        assert net(torch.randn(2, 3, 8, 8), _t(2)).shape == (2, 3, 8, 8)


def test_channels_last_matches_contiguous() -> None:
    net = _net()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = net(x, _t(2))
        net_cl = net.to(memory_format=torch.channels_last)
        out = net_cl(x.contiguous(memory_format=torch.channels_last), _t(2))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_runs_under_autocast_bf16() -> None:
    net = _net()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(torch.randn(2, 3, 8, 8), _t(2))
    assert y.shape == (2, 3, 8, 8)
    assert torch.isfinite(y.float()).all()


def test_config_json_round_trip_keeps_tuples() -> None:
    cfg = UNetConfig(in_channels=1, base_channels=16, channel_mults=(1, 2, 4), num_res_blocks=2,
                     block="convnext", dropout=0.1, learned_variance=True, linear_attention=False)
    back = UNetConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    assert isinstance(back.channel_mults, tuple)
    for preset in UNET_PRESETS.values():
        assert UNetConfig.from_dict(json.loads(json.dumps(preset.to_dict()))) == preset


@pytest.mark.parametrize("changes, message", [
    ({"in_channels": 2}, "in_channels"),
    ({"block": "transformer"}, "block"),
    ({"channel_mults": ()}, "channel_mults"),
    ({"num_res_blocks": 0}, "num_res_blocks"),
    ({"dropout": 1.0}, "dropout"),
    ({"norm_groups": 5}, "norm_groups"),
])
def test_invalid_config_is_a_value_error(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UNetConfig(**changes).validate()


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="widht is an unknown UNetConfig field"):
        UNetConfig.from_dict({"widht": 3})


def test_presets() -> None:
    assert {"tiny", "ddpm128"} <= set(UNET_PRESETS)
    big = UNET_PRESETS["ddpm128"]
    assert (big.base_channels, big.channel_mults, big.block, big.in_channels) == (128, (1, 2, 4), "resnet", 3)
    tiny = build_unet(UNET_PRESETS["tiny"])
    assert 0.5e6 < count_parameters(tiny) < 3e6
    with torch.no_grad():
        assert tiny(torch.randn(1, 3, 32, 32), _t(1)).shape == (1, 3, 32, 32)


def test_a_few_hundred_adamw_steps_drive_the_eps_loss_down() -> None:
    """Plain ε-MSE (Ho et al. eq. 14) on a fixed batch of 8×8 images: the network must fit it."""
    from ddpm_studio.engine.forward import q_sample
    from ddpm_studio.engine.schedules import make_schedule

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    schedule = make_schedule("linear", 100).to("cpu")
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 8), torch.linspace(-1, 1, 8), indexing="ij")
    x0 = torch.stack([torch.stack([xx, yy, xx * yy]), torch.stack([-yy, xx.abs(), (xx > 0).float() * 2 - 1])] * 4)
    t = torch.randint(0, 100, (8,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    xt = q_sample(schedule, x0, t, noise)                 # eq. (4): √ᾱ x0 + √(1-ᾱ) ε

    net = build_unet(MICRO).train()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(200):
        loss = (net(xt, t) - noise).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.1 * first, (first, last)
