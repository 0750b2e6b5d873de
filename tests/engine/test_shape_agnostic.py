"""The engine never assumes 4-D tensors: losses, extract, predictions, every sampler row and EMA run on (B, 2)
points as on (B, C, H, W) images, and the point MLP returns what the UNet returns for each objective."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ddpm_studio.engine import SAMPLERS, DiffusionConfig, GaussianDiffusion, SamplingConfig, draw_x_T, sample
from ddpm_studio.engine.forward import extract
from ddpm_studio.engine.losses import kl_bits_per_dim, mean_flat, regression_loss
from ddpm_studio.engine.point_mlp import PointMLP, PointMLPConfig
from ddpm_studio.training.ema import EMA

SHAPES = [(6, 2), (3, 2, 4, 4)]


class _Linear(nn.Module):
    """A shape-agnostic toy denoiser: a learnable scale of x_t (2C outputs with a learned variance)."""

    def __init__(self, learned: bool = False) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.3))
        self.learned = learned

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self.scale * x
        return torch.cat([out, torch.zeros_like(x)], dim=1) if self.learned else out


@pytest.mark.parametrize("shape", SHAPES)
def test_mean_flat_and_extract_keep_the_batch(shape) -> None:
    x = torch.arange(float(torch.Size(shape).numel())).reshape(shape)
    assert mean_flat(x).shape == (shape[0],)
    assert torch.allclose(mean_flat(x), x.reshape(shape[0], -1).mean(1))
    coef = extract(torch.linspace(0, 1, 10), torch.zeros(shape[0], dtype=torch.long), shape)
    assert coef.shape == (shape[0], *([1] * (len(shape) - 1)))
    assert regression_loss("huber", x, torch.zeros_like(x)).shape == (shape[0],)
    assert kl_bits_per_dim(x, x, x, x).shape == (shape[0],)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
@pytest.mark.parametrize("learned", [False, True])
def test_training_losses_on_any_shape(shape, objective, learned) -> None:
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=10, objective=objective,
                                                  learned_variance=learned, snr_gamma=5.0))
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(shape, generator=gen)
    t = torch.randint(0, 10, (shape[0],), generator=gen)
    terms = diffusion.training_losses(_Linear(learned), x0, t, noise=torch.randn(shape, generator=gen))
    assert terms.loss.shape == (shape[0],) and torch.isfinite(terms.loss).all()
    assert (terms.vlb is not None) == learned
    prediction = diffusion.predict(_Linear(learned), x0, t)
    assert prediction.eps.shape == prediction.x0.shape == x0.shape


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("method", list(SAMPLERS))
def test_every_sampler_row_runs_on_any_shape(shape, method) -> None:
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=10))
    config = SamplingConfig(method=method, steps=4, eta=0.5, seed=3)
    steps = list(sample(_Linear(), diffusion, shape, config))
    assert steps and all(s.xt.shape == s.x0_pred.shape == s.eps_pred.shape == shape for s in steps)
    again = list(sample(_Linear(), diffusion, shape, config, noise=draw_x_T(3, shape)))
    assert torch.equal(steps[-1].xt, again[-1].xt)


@pytest.mark.parametrize("learned", [False, True])
def test_point_mlp_returns_what_the_unet_returns(learned) -> None:
    torch.manual_seed(0)
    model = PointMLP(PointMLPConfig(width=16, blocks=2, learned_variance=learned))
    x, t = torch.randn(5, 2), torch.tensor([0, 1, 5, 9, 999])
    out = model(x, t)
    assert out.shape == (5, 4 if learned else 2)
    for objective in ("eps", "x0", "v"):
        diffusion = GaussianDiffusion(DiffusionConfig(timesteps=1000, objective=objective, learned_variance=learned))
        prediction = diffusion.predict(model, x, t, clip_x0=False)
        assert prediction.eps.shape == prediction.x0.shape == (5, 2)
        target = {"eps": prediction.eps, "x0": prediction.x0}.get(objective)
        if target is not None:  # the network's output is read as the objective's target
            assert torch.allclose(target, out[:, :2], atol=1e-5)
    with pytest.raises(ValueError, match=r"expects \(B, 2\) points"):
        model(torch.randn(5, 2, 1, 1), t)


def test_ema_averages_a_point_mlp() -> None:
    torch.manual_seed(0)
    model = PointMLP(PointMLPConfig(width=8, blocks=1))
    ema = EMA(model, decay=0.5, warmup=False)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    before = [p.clone() for p in ema.module.parameters()]
    ema.update(model)
    for b, e, p in zip(before, ema.module.parameters(), model.parameters()):
        assert torch.allclose(e, 0.5 * b + 0.5 * p)
