"""Loss pieces and GaussianDiffusion.training_losses / predict for every objective and learned variance."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ddpm_studio.engine import SamplingConfig
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.forward import q_posterior_mean_variance, q_sample, velocity
from ddpm_studio.engine.losses import (
    decoder_nll_bits_per_dim,
    discretized_gaussian_log_likelihood,
    kl_bits_per_dim,
    normal_kl,
    regression_loss,
)


def test_regression_losses_per_sample() -> None:
    pred = torch.tensor([[[[0.0, 2.0]]], [[[1.0, 1.0]]]])  # (2, 1, 1, 2)
    target = torch.zeros_like(pred)
    assert regression_loss("l2", pred, target).tolist() == [2.0, 1.0]
    assert regression_loss("l1", pred, target).tolist() == [1.0, 1.0]
    # Huber (δ = 1): 0.5 x² inside, |x| - 0.5 outside
    assert regression_loss("huber", pred, target).tolist() == [0.75, 0.5]
    with pytest.raises(ValueError, match="unknown loss 'l3'"):
        regression_loss("l3", pred, target)
    with pytest.raises(ValueError, match="shape"):
        regression_loss("l2", pred, target[:1])


def test_normal_kl_matches_torch_distributions() -> None:
    gen = torch.Generator().manual_seed(0)
    m1, m2 = torch.randn(50, generator=gen, dtype=torch.float64), torch.randn(50, generator=gen, dtype=torch.float64)
    lv1, lv2 = torch.randn(50, generator=gen, dtype=torch.float64), torch.randn(50, generator=gen, dtype=torch.float64)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(m1, (0.5 * lv1).exp()), torch.distributions.Normal(m2, (0.5 * lv2).exp())
    )
    torch.testing.assert_close(normal_kl(m1, lv1, m2, lv2), expected)
    assert normal_kl(m1, lv1, m1, lv1).abs().max().item() < 1e-12
    assert kl_bits_per_dim(m1.reshape(5, 10), lv1.reshape(5, 10), m2.reshape(5, 10), lv2.reshape(5, 10)).shape == (5,)


def test_discretized_likelihood_is_a_distribution_over_256_levels() -> None:
    levels = torch.linspace(-1, 1, 256, dtype=torch.float64)
    for mean, log_scale in ((0.0, -2.0), (0.93, -4.0), (-0.5, 0.3)):
        ll = discretized_gaussian_log_likelihood(
            levels, means=torch.full_like(levels, mean), log_scales=torch.full_like(levels, log_scale)
        )
        assert ll.exp().sum().item() == pytest.approx(1.0, abs=1e-9)
        assert (ll <= 0).all()
    # a sharp decoder centred on the pixel gives ~0 bits; far away gives many
    x = torch.zeros(1, 1, 2, 2)
    sharp = decoder_nll_bits_per_dim(x, x, torch.full_like(x, -20.0))
    far = decoder_nll_bits_per_dim(x, x + 0.5, torch.full_like(x, -8.0))
    assert sharp.item() == pytest.approx(0.0, abs=1e-4) and far.item() > 20


def _oracle(target: torch.Tensor, extra: torch.Tensor | None = None):
    def model(xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return target if extra is None else torch.cat([target, extra], dim=1)

    return model


@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_oracle_predictions_for_every_objective(objective: str) -> None:
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=100, objective=objective))
    gen = torch.Generator().manual_seed(1)
    x0 = torch.rand(4, 3, 8, 8, generator=gen) * 2 - 1
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.tensor([0, 5, 50, 99])
    s = diffusion.schedule
    target = {"eps": noise, "x0": x0, "v": velocity(s, x0, t, noise)}[objective]
    terms = diffusion.training_losses(_oracle(target), x0, t, noise=noise)
    assert terms.loss.shape == (4,) and terms.vlb is None
    assert terms.simple.abs().max().item() < 1e-12
    xt = q_sample(s, x0, t, noise)
    pred = diffusion.predict(_oracle(target), xt, t)
    assert pred.log_variance is None and pred.x0.dtype == torch.float32
    inner = slice(1, 3)  # ε from x0 at t=0 and x0 from ε at t=T-1 amplify float32 rounding; check the interior
    torch.testing.assert_close(pred.x0[inner], x0[inner], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(pred.eps[inner], noise[inner], rtol=1e-4, atol=1e-4)
    clipped = diffusion.predict(_oracle(target * 3), xt, t, clip_x0=True)
    assert clipped.x0.abs().max().item() <= 1.0


@pytest.mark.parametrize("loss", ["l2", "l1", "huber"])
def test_loss_choice_is_applied(loss: str) -> None:
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="cosine", timesteps=10, loss=loss))
    x0, noise = torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    terms = diffusion.training_losses(_oracle(torch.full((2, 1, 4, 4), 3.0)), x0, torch.tensor([1, 2]), noise=noise)
    expected = {"l2": 9.0, "l1": 3.0, "huber": 2.5}[loss]
    assert terms.loss.tolist() == [expected, expected]


def test_vlb_is_zero_for_the_true_posterior_and_nll_at_t0() -> None:
    T = 50
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=T, objective="eps",
                                                  learned_variance=True))
    gen = torch.Generator().manual_seed(2)
    x0 = (torch.randint(0, 256, (3, 1, 4, 4), generator=gen) / 127.5 - 1).to(torch.float32)
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.tensor([0, 1, 30])
    # eps oracle + var channel -1 => log Σ = clipped log β̃_t, the true posterior variance for t > 0
    terms = diffusion.training_losses(_oracle(noise, torch.full_like(x0, -1.0)), x0, t, noise=noise)
    assert terms.vlb is not None and terms.vlb.shape == (3,)
    assert terms.vlb[1:].abs().max().item() < 1e-3  # KL(q || p) = 0 up to float32 rounding
    s = diffusion.schedule
    xt = q_sample(s, x0, t, noise)
    mean, _, log_var = q_posterior_mean_variance(s, x0, xt, t)
    expected_nll = decoder_nll_bits_per_dim(x0[:1], mean[:1], log_var[:1].expand_as(x0[:1]))
    assert terms.vlb[0].item() == pytest.approx(T * expected_nll.item(), rel=1e-4)
    torch.testing.assert_close(terms.loss, terms.simple + 0.001 * terms.vlb)


def test_learned_variance_interpolates_between_beta_tilde_and_beta() -> None:
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="cosine", timesteps=20, learned_variance=True))
    s = diffusion.schedule
    xt, t = torch.zeros(2, 1, 2, 2), torch.tensor([4, 19])
    for value, expected in ((-1.0, s.posterior_log_variance_clipped[t]), (1.0, s.betas[t].log())):
        pred = diffusion.predict(_oracle(torch.zeros_like(xt), torch.full_like(xt, value)), xt, t)
        assert pred.log_variance is not None and pred.log_variance.shape == xt.shape
        torch.testing.assert_close(pred.log_variance[:, 0, 0, 0], expected.float())
    mid = diffusion.predict(_oracle(torch.zeros_like(xt), torch.zeros_like(xt)), xt, t).log_variance
    halfway = 0.5 * (s.posterior_log_variance_clipped[t] + s.betas[t].log())
    torch.testing.assert_close(mid[:, 0, 0, 0], halfway.float())


class _TinyNet(nn.Module):
    """A conv net standing in for the UNet: (B, C, H, W) -> (B, 2C, H, W), time-conditioned by a bias."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 2 * channels, 3, padding=1)
        self.time = nn.Embedding(1000, 2 * channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.time(t)[:, :, None, None]


@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_learned_variance_loss_is_finite_and_trains_the_variance_channels(objective: str) -> None:
    torch.manual_seed(0)
    config = DiffusionConfig(schedule="cosine", timesteps=100, objective=objective, learned_variance=True)
    diffusion = GaussianDiffusion(config)
    model = _TinyNet(3)
    gen = torch.Generator().manual_seed(3)
    x0 = torch.rand(4, 3, 8, 8, generator=gen) * 2 - 1
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.tensor([0, 3, 40, 99])
    terms = diffusion.training_losses(model, x0, t, noise=noise)
    assert torch.isfinite(terms.loss).all() and terms.vlb is not None and torch.isfinite(terms.vlb).all()
    terms.loss.sum().backward()
    grad = model.conv.weight.grad
    assert grad is not None and grad[3:].abs().sum().item() > 0  # variance head
    assert grad[:3].abs().sum().item() > 0  # mean head
    # stop-gradient: L_vlb alone must not move the mean channels
    model.zero_grad()
    diffusion.training_losses(model, x0, t, noise=noise).vlb.sum().backward()
    assert model.conv.weight.grad[:3].abs().max().item() == 0.0
    assert model.conv.weight.grad[3:].abs().sum().item() > 0


def test_learned_variance_gradient_reaches_the_unet_variance_head() -> None:
    unet_module = pytest.importorskip("ddpm_studio.engine.unet")
    from ddpm_studio.engine.unet_config import UNetConfig

    torch.manual_seed(0)
    config = UNetConfig(in_channels=1, base_channels=8, channel_mults=(1, 2), learned_variance=True)
    model = unet_module.build_unet(config)
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=50, learned_variance=True))
    x0 = torch.rand(2, 1, 8, 8) * 2 - 1
    terms = diffusion.training_losses(model, x0, torch.tensor([0, 25]), noise=torch.randn_like(x0))
    assert torch.isfinite(terms.loss).all()
    terms.vlb.sum().backward()
    head = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.out_channels == 2][-1]
    assert head.weight.grad is not None and head.weight.grad[1:].abs().sum().item() > 0
    assert head.weight.grad[:1].abs().max().item() == 0.0


def test_model_with_wrong_channel_count_is_a_clear_error() -> None:
    diffusion = GaussianDiffusion(DiffusionConfig(timesteps=10, learned_variance=True))
    x = torch.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match="expected 6 channels"):
        diffusion.predict(_oracle(x), x, torch.tensor([1, 2]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"schedule": "exp"}, "schedule must be one of"),
        ({"timesteps": 0}, "timesteps must be an integer >= 1"),
        ({"objective": "score"}, "objective"),
        ({"loss": "mse"}, "loss"),
        ({"vlb_weight": float("nan")}, "vlb_weight"),
    ],
)
def test_diffusion_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GaussianDiffusion(DiffusionConfig(**kwargs))


def test_configs_round_trip_through_dicts() -> None:
    config = DiffusionConfig(schedule="linear", timesteps=7, objective="v", learned_variance=True)
    assert DiffusionConfig.from_dict(config.to_dict()) == config
    assert SamplingConfig.from_dict(SamplingConfig(method="ddpm").to_dict()).method == "ddpm"
    with pytest.raises(ValueError, match="unknown SamplingConfig field"):
        SamplingConfig.from_dict({"stepz": 3})
    with pytest.raises(ValueError, match="eta"):
        SamplingConfig(eta=-1.0).validate()
    assert math.isfinite(DiffusionConfig().vlb_weight)
