"""The network in bf16 under autocast while the sampler's arithmetic stays in float32 (issue 27, item 3)."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.engine import DiffusionConfig, GaussianDiffusion, SamplingConfig, UNet, UNetConfig, sample
from ddpm_studio.engine.guidance import cfg
from ddpm_studio.engine.precision import AutocastModel, with_precision
from ddpm_studio.training.devices import PRECISIONS, inference_dtype

SMALL = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, linear_attention=False,
                   mid_attention=False, attention_heads=1, attention_head_dim=8, norm_groups=4)


def _net(num_classes: int = 0) -> UNet:
    torch.manual_seed(0)
    return UNet(SMALL.replace(num_classes=num_classes)).eval()


def _final(model, diffusion, config: SamplingConfig) -> torch.Tensor:
    *_, last = sample(model, diffusion, (4, 3, 8, 8), config)
    return last.xt


def test_float32_is_the_model_itself():
    net = _net()
    assert with_precision(net, torch.device("cpu"), None) is net


def test_bf16_runs_the_convolutions_in_bf16_and_hands_back_float32():
    net = _net()
    seen: list[torch.dtype] = []
    net.init_conv.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    wrapped = with_precision(net, torch.device("cpu"), torch.bfloat16)
    assert isinstance(wrapped, AutocastModel)
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([3, 9])
    with torch.no_grad():
        out = wrapped(x, t)
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    with torch.no_grad():
        exact = net(x, t)
    assert (out - exact).abs().max() < 0.1 and not torch.equal(out, exact)  # bf16 rounding, not another network


def test_bf16_samples_stay_close_to_float32():
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=20))
    net = _net()
    bf16 = with_precision(net, torch.device("cpu"), torch.bfloat16)
    for method in ("ddim", "euler_ancestral"):  # deterministic, stochastic
        config = SamplingConfig(method=method, steps=3, seed=3, count=4)
        exact, rounded = _final(net, diffusion, config), _final(bf16, diffusion, config)
        assert rounded.dtype == torch.float32
        assert (exact - rounded).abs().max() < 0.15, method


def test_guidance_sees_the_wrapped_models_classes():
    net = _net(num_classes=3)
    wrapped = with_precision(net, torch.device("cpu"), torch.bfloat16)
    assert wrapped.num_classes == 3
    guided = cfg(wrapped, torch.tensor([0, 1]), 2.0)  # refuses an unconditional model: it must see 3 classes
    with torch.no_grad():
        assert guided(torch.randn(2, 3, 8, 8), torch.tensor([5, 5])).dtype == torch.float32


def test_precision_policy():
    cpu = torch.device("cpu")
    assert inference_dtype("auto", cpu) is None and inference_dtype("no", cpu) is None
    assert inference_dtype("bf16", cpu) is torch.bfloat16 and inference_dtype("fp16", cpu) is torch.float16
    assert set(PRECISIONS) == {"auto", "no", "bf16", "fp16"}
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        inference_dtype("fp8", cpu)
