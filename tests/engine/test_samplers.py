"""Samplers: step counts, determinism, oracle recovery, DDIM inversion and DDIM(η=1) ≡ DDPM."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ddpm_studio.engine import SAMPLERS, SamplingConfig, sample
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.grids import ddim_timesteps
from ddpm_studio.engine.samplers import ddim_invert
from ddpm_studio.engine.sampling_common import SamplerStep


def _diffusion(T: int = 20, schedule: str = "linear", **kwargs) -> GaussianDiffusion:
    kwargs.setdefault("objective", "eps")  # the oracles below are ε-models (DiffusionConfig's default is v)
    return GaussianDiffusion(DiffusionConfig(schedule=schedule, timesteps=T, **kwargs))


def _oracle_eps(diffusion: GaussianDiffusion, x0: torch.Tensor):
    """The ideal ε-model for a single known image: ε = (x_t - √ᾱ_t x_0) / √(1 - ᾱ_t)."""
    ab = diffusion.schedule.alphas_cumprod

    def model(xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = ab[t].to(xt.dtype).reshape(-1, 1, 1, 1)
        return (xt - a.sqrt() * x0) / (1 - a).sqrt()

    return model


def _gaussian_data_eps(diffusion: GaussianDiffusion, scale: float = 0.5):
    """Smooth analytic ε-model: the exact E[ε|x_t] for data x_0 ~ N(0, scale²), plus a smooth nonlinearity."""
    ab = diffusion.schedule.alphas_cumprod

    def model(xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = ab[t].to(xt.dtype).reshape(-1, 1, 1, 1)
        return (1 - a).sqrt() * xt / (a * scale**2 + 1 - a) + 0.05 * torch.sin(2 * xt)

    return model


class _Conv(nn.Module):
    def __init__(self, channels: int, out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, out, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x))


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large", "learned"])
def test_ddpm_yields_exactly_T_steps(variance: str) -> None:
    T = 13
    learned = variance == "learned"
    diffusion = _diffusion(T, learned_variance=learned)
    torch.manual_seed(0)
    model = _Conv(1, 2 if learned else 1)
    kind = "fixed_small" if learned else variance
    gen = torch.Generator().manual_seed(0)
    steps = list(SAMPLERS["ddpm"].run(model, diffusion, (2, 1, 8, 8), generator=gen, variance=kind))
    assert len(steps) == T
    assert [s.t for s in steps] == list(range(T - 1, -1, -1))
    assert [s.index for s in steps] == list(range(T)) and all(s.num_steps == T for s in steps)
    for s in steps:
        assert isinstance(s, SamplerStep) and s.xt.shape == (2, 1, 8, 8) and s.xt.dtype == torch.float32
        assert not s.xt.requires_grad and torch.isfinite(s.xt).all()
    assert torch.is_grad_enabled()  # the generator's no_grad does not leak to the caller


def test_ddpm_final_step_is_the_posterior_mean_and_oracle_recovers_x0() -> None:
    diffusion = _diffusion(30)
    x0 = torch.linspace(-0.9, 0.9, 16).reshape(1, 1, 4, 4)
    gen = torch.Generator().manual_seed(1)
    steps = list(SAMPLERS["ddpm"].run(_oracle_eps(diffusion, x0), diffusion, (1, 1, 4, 4), generator=gen))
    # at t = 0 the posterior mean collapses to the predicted x0 (coef1 = 1, coef2 = 0) and no noise is added
    torch.testing.assert_close(steps[-1].xt, steps[-1].x0_pred)
    torch.testing.assert_close(steps[-1].xt, x0, rtol=1e-4, atol=1e-4)


def test_ddim_eta0_is_deterministic_and_ignores_the_generator() -> None:
    diffusion = _diffusion(50, schedule="cosine")
    torch.manual_seed(0)
    model = _Conv(3, 3)
    noise = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    def run(seed: int, eta: float) -> list:
        gen = torch.Generator().manual_seed(seed)
        return list(SAMPLERS["ddim"].run(model, diffusion, noise.shape, steps=10, eta=eta, noise=noise, generator=gen))

    runs = [run(1, 0.0), run(2, 0.0)]
    assert len(runs[0]) == 10
    for a, b in zip(*runs):
        assert torch.equal(a.xt, b.xt) and a.t == b.t
    noisy = [run(1, 1.0), run(2, 1.0)]
    assert not torch.equal(noisy[0][-1].xt, noisy[1][-1].xt)


@pytest.mark.parametrize("steps", [1, 3, 10, 100])
def test_ddim_with_an_oracle_recovers_x0(steps: int) -> None:
    diffusion = _diffusion(100, schedule="cosine")
    x0 = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(2)) * 2 - 1
    gen = torch.Generator().manual_seed(0)
    out = list(SAMPLERS["ddim"].run(_oracle_eps(diffusion, x0), diffusion, x0.shape, steps=steps, generator=gen))
    assert len(out) == steps and out[0].t == 99 and out[-1].t == (0 if steps > 1 else 99)
    # x̂0 = (x_t - √(1-ᾱ)ε)/√ᾱ at ᾱ_T ≈ 1e-6 amplifies float32 rounding ~1000x: hence 1e-3, not 1e-6
    torch.testing.assert_close(out[-1].xt, x0, rtol=0, atol=1e-3)
    assert all((step.x0_pred - x0).abs().max() < 1e-3 for step in out)


def test_ddim_inversion_converges_as_steps_grow() -> None:
    """Deterministic encode then decode returns the input, with an error that shrinks with the step count."""
    diffusion = _diffusion(1000, schedule="linear")
    model = _gaussian_data_eps(diffusion)
    x0 = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(3)) - 0.5
    errors = []
    for steps in (10, 50, 250):
        latent = list(ddim_invert(model, diffusion, x0, steps=steps))[-1].xt
        decoded = list(SAMPLERS["ddim"].run(model, diffusion, x0.shape, steps=steps, noise=latent,
                                            clip_x0=False))[-1].xt
        errors.append((decoded - x0).abs().max().item())
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-2 and errors[2] < errors[0] / 5


def test_ddim_eta1_all_steps_matches_ddpm_fixed_small() -> None:
    """With η = 1 and every timestep, σ_t² of eq. (16) equals β̃_t, so both samplers take identical steps."""
    T = 25
    diffusion = _diffusion(T, schedule="cosine")
    torch.manual_seed(0)
    model = _Conv(1, 1)
    noise = torch.randn(3, 1, 6, 6, generator=torch.Generator().manual_seed(7))
    gen_a, gen_b = torch.Generator().manual_seed(8), torch.Generator().manual_seed(8)
    ddpm = list(SAMPLERS["ddpm"].run(model, diffusion, noise.shape, noise=noise, generator=gen_a))
    ddim = list(SAMPLERS["ddim"].run(model, diffusion, noise.shape, steps=T, eta=1.0, noise=noise, generator=gen_b))
    assert [s.t for s in ddim] == [s.t for s in ddpm]
    for a, b in zip(ddpm, ddim):
        torch.testing.assert_close(a.xt, b.xt, rtol=1e-4, atol=1e-4)
    # and the per-step variance itself: σ_t² (eq. 16, η = 1) == posterior_variance
    s = diffusion.schedule
    ab, ab_prev = s.alphas_cumprod, s.alphas_cumprod_prev
    sigma2 = (1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)
    torch.testing.assert_close(sigma2, s.posterior_variance, rtol=1e-10, atol=1e-15)


def test_noise_scale_multiplies_the_fresh_noise() -> None:
    diffusion = _diffusion(10)
    model = lambda x, t: torch.zeros_like(x)  # noqa: E731
    noise = torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    first = {}
    for scale in (0.0, 1.0, 0.5):
        gen = torch.Generator().manual_seed(1)
        run = SAMPLERS["ddpm"].run(
            model, diffusion, noise.shape, noise=noise, generator=gen, noise_scale=scale, clip_x0=False
        )
        first[scale] = next(run).xt
    torch.testing.assert_close(first[0.5] - first[0.0], 0.5 * (first[1.0] - first[0.0]))
    assert not torch.equal(first[1.0], first[0.0])
    # η = 1 with noise_scale = 0 adds no noise: the generator no longer matters
    cold = [
        list(SAMPLERS["ddim"].run(model, diffusion, noise.shape, steps=5, eta=1.0, noise=noise, noise_scale=0.0,
                         generator=torch.Generator().manual_seed(seed)))[-1].xt
        for seed in (1, 2)
    ]
    assert torch.equal(cold[0], cold[1])


def test_sample_dispatches_on_the_config_and_is_seeded() -> None:
    diffusion = _diffusion(12, schedule="cosine")
    torch.manual_seed(0)
    model = _Conv(1, 1)
    shape = (2, 1, 8, 8)
    ddpm = list(sample(model, diffusion, shape, SamplingConfig(method="ddpm", seed=3)))
    assert len(ddpm) == 12
    ddim = list(sample(model, diffusion, shape, SamplingConfig(method="ddim", steps=4, eta=0.5, seed=3)))
    again = list(sample(model, diffusion, shape, SamplingConfig(method="ddim", steps=4, eta=0.5, seed=3)))
    assert len(ddim) == 4 and torch.equal(ddim[-1].xt, again[-1].xt)
    other = list(sample(model, diffusion, shape, SamplingConfig(method="ddim", steps=4, eta=0.5, seed=4)))
    assert not torch.equal(ddim[-1].xt, other[-1].xt)
    with pytest.raises(ValueError, match="method"):
        sample(model, diffusion, shape, SamplingConfig(method="lms"))


def test_ddim_timesteps_are_evenly_spaced_and_descending() -> None:
    assert ddim_timesteps(1000, 1) == [999]
    assert ddim_timesteps(10, 10) == list(range(9, -1, -1))
    seq = ddim_timesteps(1000, 50)
    assert len(seq) == 50 and seq[0] == 999 and seq[-1] == 0
    gaps = [a - b for a, b in zip(seq, seq[1:])]
    assert max(gaps) - min(gaps) <= 1 and len(set(seq)) == 50
    for bad in (0, 1001, 2.5):
        with pytest.raises(ValueError, match="steps must be an integer in 1..1000"):
            ddim_timesteps(1000, bad)  # type: ignore[arg-type]


def test_bad_arguments_are_clear_errors() -> None:
    diffusion = _diffusion(5)
    model = lambda x, t: torch.zeros_like(x)  # noqa: E731
    with pytest.raises(ValueError, match="noise has shape"):
        next(SAMPLERS["ddpm"].run(model, diffusion, (1, 1, 4, 4), noise=torch.zeros(1, 1, 4, 5)))
    with pytest.raises(ValueError, match="unknown variance"):
        next(SAMPLERS["ddpm"].run(model, diffusion, (1, 1, 4, 4), variance="huge"))
    with pytest.raises(ValueError, match="eta"):
        next(SAMPLERS["ddim"].run(model, diffusion, (1, 1, 4, 4), steps=5, eta=-0.1))
    assert math.isfinite(next(SAMPLERS["ddim"].run(model, diffusion, (1, 1, 4, 4), steps=5)).xt.sum().item())
