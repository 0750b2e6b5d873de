"""DPM-Solver++(2M)'s timestep grids: the log-SNR-uniform grid, the spacing choice, and the default grid."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ddpm_studio.engine import dpm_solver
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.dpm_solver import DEFAULT_SPACING, DPM_SPACINGS, dpm_grid, dpm_solver_2m_sample
from ddpm_studio.engine.karras import karras_timesteps
from ddpm_studio.engine.sampling_common import dpm_timesteps, logsnr_timesteps


def _demo_like() -> GaussianDiffusion:
    """The demo model's process: cosine schedule, T = 1000."""
    return GaussianDiffusion(DiffusionConfig(schedule="cosine", timesteps=1000))


def _lambdas(diffusion: GaussianDiffusion) -> torch.Tensor:
    ab = diffusion.schedule.alphas_cumprod.to(torch.float64)
    return 0.5 * (torch.log(ab) - torch.log1p(-ab))


@pytest.mark.parametrize("sigma_max", [None, 80.0])
@pytest.mark.parametrize("steps", [5, 10, 20])
def test_logsnr_grid_is_even_in_lambda(steps: int, sigma_max: float | None) -> None:
    diffusion = _demo_like()
    lambdas = _lambdas(diffusion)
    grid = logsnr_timesteps(diffusion.schedule.alphas_cumprod, steps, sigma_max=sigma_max)
    assert len(grid) == steps and grid[-1] == 0 and all(a > b for a, b in zip(grid, grid[1:]))
    start = float(lambdas[-1]) if sigma_max is None else -math.log(sigma_max)
    targets = torch.linspace(start, float(lambdas[0]), steps, dtype=torch.float64)
    # each point is the timestep nearest its λ target, unless that one was taken (the steep top of the cosine
    # schedule, where neighbouring integer t are further apart in λ than a step): then the one below the last
    for i, (t, target) in enumerate(zip(grid, targets)):
        nearest = int((lambdas - target).abs().argmin())
        assert t == nearest or (i > 0 and t == grid[i - 1] - 1 and nearest >= grid[i - 1]), (i, t, nearest)
    if sigma_max is None:
        assert grid[0] == diffusion.num_timesteps - 1
    else:  # σ = 80 is λ = -4.38: the timestep nearest it, not T - 1
        assert abs(float(lambdas[grid[0]]) - start) < float(lambdas[grid[0] - 1] - lambdas[grid[0] + 1])


def test_logsnr_grid_at_every_timestep_and_bad_steps() -> None:
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=50))
    assert logsnr_timesteps(diffusion.schedule.alphas_cumprod, 50) == list(range(49, -1, -1))
    for bad in (0, 51, 2.0):
        with pytest.raises(ValueError, match="steps"):
            logsnr_timesteps(diffusion.schedule.alphas_cumprod, bad)


def test_each_spacing_is_its_grid_and_an_unknown_one_is_refused() -> None:
    diffusion = _demo_like()
    assert dpm_grid(diffusion, 10, "linspace") == dpm_timesteps(1000, 10)
    assert dpm_grid(diffusion, 10, "karras") == karras_timesteps(diffusion, 10)
    assert dpm_grid(diffusion, 10, "logsnr") == logsnr_timesteps(diffusion.schedule.alphas_cumprod, 10)
    assert set(DPM_SPACINGS) == {"linspace", "karras", "logsnr"}
    with pytest.raises(ValueError, match="spacing must be one of"):
        dpm_grid(diffusion, 10, "trailing")


def test_the_default_grid_is_the_one_the_docstring_names() -> None:
    """The module docstring and dpm_grid's say the default is Karras's ρ = 7 σ-grid from σ = 80 (chosen by the
    demo model's sweep); the sampler without timesteps= or spacing= walks exactly that grid."""
    assert DEFAULT_SPACING == "karras"
    assert "DEFAULT_SPACING = karras" in " ".join(dpm_solver.__doc__.split())
    diffusion = _demo_like()
    for steps in (5, 10, 20):
        grid = dpm_grid(diffusion, steps)
        assert grid == karras_timesteps(diffusion, steps)
        ab = diffusion.schedule.alphas_cumprod
        sigmas = [math.sqrt((1 - ab[t]) / ab[t]) for t in grid]
        assert 75 < sigmas[0] < 85 and grid[-1] == 0  # from σ_max = 80 down to σ(0)
        # ρ = 7: σ^{1/7} is even in i, up to the rounding of σ to the nearest integer timestep
        roots = torch.tensor(sigmas, dtype=torch.float64) ** (1 / 7)
        ramp = torch.linspace(float(roots[0]), float(roots[-1]), steps, dtype=torch.float64)
        assert float((roots - ramp).abs().max()) < 0.02
    model, noise = _Identity(), torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    visited = [s.t for s in dpm_solver_2m_sample(model, diffusion, noise.shape, steps=10, noise=noise)]
    assert visited == karras_timesteps(diffusion, 10)


class _Identity(nn.Module):
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)
