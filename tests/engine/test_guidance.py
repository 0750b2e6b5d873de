"""Conditional UNet, classifier-free guidance and autoguidance as model combinators (issue 20, items 2-4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ddpm_studio.engine import SAMPLERS, DiffusionConfig, GaussianDiffusion, SamplingConfig, UNet, UNetConfig, sample
from ddpm_studio.engine.guidance import Conditioned, autoguided, cfg, labels_for, rescaled, steer

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "model.safetensors"
SMALL = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, linear_attention=False,
                   mid_attention=False, attention_heads=1, attention_head_dim=8, norm_groups=4)


def _net(num_classes: int = 3, learned_variance: bool = False, seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    net = UNet(SMALL.replace(num_classes=num_classes, learned_variance=learned_variance)).eval()
    if net.class_embed is not None:  # a trained-looking class embedding (zeros at init would hide mistakes)
        torch.nn.init.normal_(net.class_embed.weight, std=1.0)
    return net


def _xt(batch: int = 4):
    g = torch.Generator().manual_seed(1)
    return torch.randn(batch, 3, 8, 8, generator=g), torch.tensor([3, 7, 11, 19][:batch])


def test_unconditional_net_is_unchanged():
    plain = _net(0)
    assert plain.class_embed is None and not any("class" in k for k in plain.state_dict())
    torch.manual_seed(0)
    again = UNet(SMALL)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), again.state_dict().values()))
    x, t = _xt()
    with pytest.raises(ValueError, match="unconditional"):
        plain(x, t, torch.zeros(4, dtype=torch.long))


def test_conditional_net_null_class_is_y_none():
    net = _net(3)
    x, t = _xt()
    with torch.no_grad():
        assert torch.equal(net(x, t), net(x, t, torch.full((4,), 3)))
        assert not torch.allclose(net(x, t, torch.zeros(4, dtype=torch.long)), net(x, t))


@pytest.mark.skipif(not DEMO.exists(), reason="no demo model in this checkout")
def test_demo_model_loads_and_samples_bit_for_bit_as_before():
    from ddpm_studio.training.checkpoint import load_model

    model, diffusion, config = load_model(DEMO, ema=True)
    model.eval()
    assert config.model.num_classes == 0 and config.data.classes == () and model.class_embed is None
    shape = (2, 3, config.data.image_size, config.data.image_size)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the reduction order (and so the last bits) depends on the thread count
    try:
        x = list(sample(model, diffusion, shape, SamplingConfig(method="ddim", steps=3, seed=7, count=2)))[-1].xt
    finally:
        torch.set_num_threads(threads)
    # the same call, one thread, on the commit before conditioning existed (b86484a): equal to the last bit
    assert x.double().sum().item() == 184.8540306959767
    assert x[0, 0, 0, :4].tolist() == [0.06888105720281601, 0.08270741254091263, 0.07326384633779526,
                                       0.1080540269613266]


def test_cfg_w1_is_conditional_and_w0_unconditional_bit_for_bit():
    net = _net(3)
    x, t = _xt()
    y = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        assert torch.equal(cfg(net, y, 1.0)(x, t), net(x, t, y))
        assert torch.equal(cfg(net, y, 0.0)(x, t), net(x, t))


class _Counting(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net, self.batches = net, []

    @property
    def num_classes(self):
        return self.net.num_classes

    def forward(self, x, t, y=None):
        self.batches.append(x.shape[0])
        return self.net(x, t, y)


@pytest.mark.parametrize("learned_variance", [False, True])
def test_cfg_is_one_batched_pass_of_the_formula(learned_variance):
    net = _net(3, learned_variance)
    counting = _Counting(net)
    x, t = _xt()
    y = torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        guided = cfg(counting, y, 3.0)(x, t)
        cond, uncond = net(x, t, y), net(x, t)
    assert counting.batches == [8]  # both branches in one forward pass of 2B
    expected = uncond[:, :3] + 3.0 * (cond[:, :3] - uncond[:, :3])  # ε_∅ + w (ε_c - ε_∅)
    torch.testing.assert_close(guided[:, :3], expected, rtol=1e-5, atol=1e-5)
    if learned_variance:  # the variance channels are the conditional branch's, not guided
        torch.testing.assert_close(guided[:, 3:], cond[:, 3:], rtol=1e-5, atol=1e-5)


def test_guidance_interval_and_rescale():
    net = _net(3)
    x, t = _xt()
    y = torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        inside_some = cfg(net, y, 4.0, interval=(5, 12))(x, t)  # t = 3, 7, 11, 19
        cond, full = net(x, t, y), cfg(net, y, 4.0)(x, t)
        torch.testing.assert_close(inside_some[[0, 3]], cond[[0, 3]], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(inside_some[[1, 2]], full[[1, 2]], rtol=1e-5, atol=1e-5)
        assert torch.equal(cfg(net, y, 4.0, interval=(100, 200))(x, t), cond)
        out = cfg(net, y, 4.0, rescale=1.0)(x, t)  # φ = 1: each sample has the conditional output's std
        torch.testing.assert_close(out.std(dim=(1, 2, 3)), cond.std(dim=(1, 2, 3)), rtol=1e-5, atol=1e-6)
    a = torch.tensor([[1.0, 3.0]])  # std √2, and cond [0, 4] has std 2√2: rescaled by 2, then φ = 0.5 halfway
    assert rescaled(a, torch.tensor([[0.0, 4.0]]), 0.5).tolist() == [[1.5, 4.5]]


def test_autoguidance_formula():
    main, weak = (lambda x, t: 2 * x), (lambda x, t: x)
    x = torch.ones(1, 1, 2, 2)
    assert autoguided(main, weak, 3.0)(x, torch.zeros(1)).flatten().tolist() == [4.0] * 4  # x + 3 (2x - x)
    assert autoguided(main, weak, 1.0)(x, torch.zeros(1)).flatten().tolist() == [2.0] * 4


def test_autoguidance_at_w_0_and_1_runs_one_network():
    """w = 0 is the weak model alone and w = 1 the main one, one network each (the cost `batch_factor` says);
    with a learned variance, w = 0 still takes the variance channels from the main model."""
    calls: list[str] = []

    def net(name: str, factor: float, channels: int = 1):
        def run(x, t):
            calls.append(name)
            return torch.cat([factor * x] * channels, dim=1)
        return run

    x, t = torch.ones(1, 1, 2, 2), torch.zeros(1)
    assert autoguided(net("main", 2.0), net("weak", 1.0), 0.0)(x, t).flatten().tolist() == [1.0] * 4
    assert calls == ["weak"]
    calls.clear()
    autoguided(net("main", 2.0), net("weak", 1.0), 1.0)(x, t)
    assert calls == ["main"]
    calls.clear()
    out = autoguided(net("main", 2.0, 2), net("weak", 1.0, 2), 0.0)(x, t)  # learned variance: (mean, variance)
    assert sorted(calls) == ["main", "weak"] and out[:, 0].flatten().tolist() == [1.0] * 4
    assert out[:, 1].flatten().tolist() == [2.0] * 4  # the main model's variance channel


def test_labels_for_batches_and_errors():
    assert labels_for([2], 3, 3).tolist() == [2, 2, 2]
    assert labels_for([0, 2], 4, 3).tolist() == [0, 0, 2, 2]  # N = 2 chains per image
    assert labels_for([], 4, 3) is None
    with pytest.raises(ValueError, match="class 5 is not one of the model's 3 classes"):
        labels_for([5], 1, 3)
    with pytest.raises(ValueError, match="unconditional model"):
        steer(_net(0), 2, labels=(1,))
    with pytest.raises(ValueError, match="needs a class"):
        steer(_net(0), 2, guidance=2.0)
    net = _net(3)
    assert steer(net, 2) is net


@pytest.mark.parametrize("method", list(SAMPLERS))
def test_every_sampler_honours_guidance(method):
    net = _net(3)
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=10))
    shape = (2, 3, 8, 8)

    def final(config, model=net, **kw):
        return list(sample(model, diffusion, shape, config, **kw))[-1].xt

    base = SamplingConfig(method=method, steps=3, seed=5, count=2, eta=0.5)
    plain = final(base)
    conditional = final(SamplingConfig(**{**base.to_dict(), "labels": (1,)}))
    assert torch.equal(conditional, final(base, Conditioned(net, torch.tensor([1, 1]))))  # w = 1: plain conditional
    unguided = final(SamplingConfig(**{**base.to_dict(), "labels": (1,), "guidance": 0.0}))
    assert torch.equal(unguided, plain)  # w = 0: the unconditional model, bit for bit
    guided = final(SamplingConfig(**{**base.to_dict(), "labels": (0, 2), "guidance": 3.0}))
    assert torch.isfinite(guided).all() and not torch.allclose(guided, conditional)
    auto = final(SamplingConfig(**{**base.to_dict(), "guidance": 2.0}), guide=_net(3, seed=1))
    assert torch.isfinite(auto).all() and not torch.allclose(auto, plain)


def test_sampling_config_steering_fields():
    config = SamplingConfig(count=4, labels=(0, 1, 2, 0), guidance=2.0, guidance_interval=(1, 5))
    assert SamplingConfig.from_dict(config.to_dict()) == config
    assert config.for_images(2, 2).labels == (2, 0) and config.batch_factor() == 2
    assert SamplingConfig().batch_factor() == 1 and SamplingConfig(guidance=2.0).batch_factor(guide=True) == 2
    with pytest.raises(ValueError, match="one per image"):
        SamplingConfig(count=3, labels=(0, 1)).validate()
    with pytest.raises(ValueError, match="guidance_interval"):
        SamplingConfig(guidance_interval=(5, 1)).validate()
