"""The timestep grids (engine/grids.py): the log-SNR-uniform grid, each named grid, truncation, and DPM-Solver++'s
default grid."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ddpm_studio.engine import SAMPLERS
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.grids import (
    GRIDS,
    ddim_timesteps,
    dpm_timesteps,
    fit_steps,
    karras_timesteps,
    logsnr_timesteps,
    make_grid,
)


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


def test_each_named_grid_is_its_function_and_an_unknown_one_is_refused() -> None:
    diffusion = _demo_like()
    ab = diffusion.schedule.alphas_cumprod
    assert make_grid("linspace", ab, 10) == dpm_timesteps(1000, 10)
    assert make_grid("karras", ab, 10) == karras_timesteps(ab, 10)
    assert make_grid("logsnr", ab, 10) == logsnr_timesteps(ab, 10)
    assert make_grid("even", ab, 10) == ddim_timesteps(1000, 10)
    assert make_grid("all", ab, 10) == list(range(999, -1, -1))
    assert set(GRIDS) == {"all", "even", "linspace", "karras", "logsnr"}
    with pytest.raises(ValueError, match="grid must be one of"):
        make_grid("trailing", ab, 10)


@pytest.mark.parametrize("name", ["all", "even", "linspace", "karras", "logsnr"])
def test_a_truncated_grid_is_the_grid_of_the_truncated_schedule(name: str) -> None:
    """SDEdit from t uses the sampler's own grid over 0..t: the same function on ᾱ[: t + 1]."""
    ab = _demo_like().schedule.alphas_cumprod
    grid = make_grid(name, ab, 8, t_max=300)
    assert grid == GRIDS[name](ab[:301], 8) and grid[0] <= 300 and grid[-1] == (0 if name != "linspace" else grid[-1])
    assert all(a > b for a, b in zip(grid, grid[1:]))
    with pytest.raises(ValueError, match="t_max"):
        make_grid(name, ab, 8, t_max=1000)


def test_steps_beyond_T_raise_and_the_named_clamp_is_the_only_clamp() -> None:
    ab = GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=20)).schedule.alphas_cumprod
    for name in ("even", "linspace", "karras", "logsnr"):
        with pytest.raises(ValueError, match=r"steps must be an integer in 1\.\.20"):
            make_grid(name, ab, 21)
    assert fit_steps(50, 20) == 20 and fit_steps(5, 20) == 5 and fit_steps(0, 20) == 1


def test_dpm_solver_walks_the_karras_grid_of_its_table_row() -> None:
    """The table row of DPM-Solver++ names Karras's ρ = 7 σ-grid from σ = 80 (chosen by the demo model's sweep,
    docs/decisions.md); the sampler run from its row walks exactly that grid."""
    assert SAMPLERS["dpmpp_2m"].grid == "karras"
    diffusion = _demo_like()
    ab = diffusion.schedule.alphas_cumprod
    for steps in (5, 10, 20):
        grid = SAMPLERS["dpmpp_2m"].grid_for(diffusion, steps)
        assert grid == karras_timesteps(ab, steps)
        sigmas = [math.sqrt((1 - ab[t]) / ab[t]) for t in grid]
        assert 75 < sigmas[0] < 85 and grid[-1] == 0  # from σ_max = 80 down to σ(0)
        # ρ = 7: σ^{1/7} is even in i, up to the rounding of σ to the nearest integer timestep
        roots = torch.tensor(sigmas, dtype=torch.float64) ** (1 / 7)
        ramp = torch.linspace(float(roots[0]), float(roots[-1]), steps, dtype=torch.float64)
        assert float((roots - ramp).abs().max()) < 0.02
    model, noise = _Identity(), torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    visited = [s.t for s in SAMPLERS["dpmpp_2m"].run(model, diffusion, noise.shape, clip_x0=False, steps=10,
                                                     noise=noise)]
    assert visited == karras_timesteps(ab, 10)


class _Identity(nn.Module):
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)
