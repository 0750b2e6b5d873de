"""Euler, Heun and ancestral Euler in the σ parametrisation of Karras et al. 2022 ("EDM").

A discrete VP model sees x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε. Dividing by √ᾱ_t gives the variance-exploding state
x = x_0 + σ ε with σ_t = √((1-ᾱ_t)/ᾱ_t), whose probability-flow ODE is dx/dσ = (x - D(x; σ))/σ = ε̂
(Karras eq. 3 with s(t) = 1, σ(t) = t). The samplers integrate it over the σ of a grid of integer
timesteps (by default Karras's ρ = 7 spacing, :func:`karras_timesteps`; any grid through ``timesteps=``)
followed by σ = 0 (so the last step returns the denoised image). Internally they hold the VE
state; every yielded ``xt`` is the VP state x_t = x / √(σ² + 1), like DDPM's and DDIM's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from ddpm_studio.engine.diffusion import GaussianDiffusion, Model, ModelPrediction
from ddpm_studio.engine.sampling_common import (
    SamplerStep,
    check_timesteps,
    ddim_timesteps,
    initial_noise,
    randn,
    resolve_device,
)

__all__ = ["karras_sigmas", "karras_timesteps", "euler_sample", "heun_sample", "euler_ancestral_sample"]


def karras_sigmas(diffusion: GaussianDiffusion, timesteps: Sequence[int]) -> list[float]:
    """σ_t = √((1-ᾱ_t)/ᾱ_t) at each timestep (float64 scalars), with σ = 0 appended as the end point."""
    alphas_cumprod = diffusion.schedule.alphas_cumprod.tolist()
    return [math.sqrt((1.0 - alphas_cumprod[t]) / alphas_cumprod[t]) for t in timesteps] + [0.0]


def karras_timesteps(
    diffusion: GaussianDiffusion, steps: int, *, rho: float = 7.0, sigma_max: float = 80.0
) -> list[int]:
    """Karras et al. 2022 eq. (5): σ_i = (σ_max^{1/ρ} + i/(N-1) (σ_min^{1/ρ} - σ_max^{1/ρ}))^ρ from
    min(σ(T-1), σ_max = 80, their Table 1) to σ(0), each mapped to the timestep nearest in log σ and kept
    strictly decreasing (so ``steps`` timesteps always come back).

    ρ = 7 spends the steps where the ODE bends (high σ) instead of evenly in t. With the cosine schedule
    (σ(T-1) ≈ 2·10⁴, σ(0.9 T) ≈ 6) an even grid makes Heun's first trapezoid span σ ratios of 10³ and blow up;
    starting at σ = 80 treats x_T as x_t at that t (√ᾱ_t ≈ 0.012: nearly pure noise)."""
    num_timesteps = diffusion.num_timesteps
    ddim_timesteps(num_timesteps, steps)  # validates steps
    ab = diffusion.schedule.alphas_cumprod
    log_sigmas = 0.5 * (torch.log1p(-ab) - torch.log(ab))  # increasing in t
    ramp = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    hi = min(float(log_sigmas[-1].exp()), sigma_max) ** (1.0 / rho)
    lo = log_sigmas[0].exp() ** (1.0 / rho)
    targets = (rho * torch.log(hi + ramp * (lo - hi))).clamp(log_sigmas[0], log_sigmas[-1])
    nearest = (targets.unsqueeze(1) - log_sigmas.unsqueeze(0)).abs().argmin(1).tolist()
    grid: list[int] = []
    for i, t in enumerate(nearest):  # strictly decreasing, leaving room for the steps still to come
        t = min(t, grid[-1] - 1) if grid else t
        grid.append(max(t, steps - 1 - i))
    return grid


def _denoise(
    model: Model, diffusion: GaussianDiffusion, x: Tensor, sigma: float, step: int, clip_x0: bool
) -> ModelPrediction:
    """The network at VE state x and σ_t: evaluated on x_t = x / √(σ² + 1); ε̂ is dx/dσ (Karras eq. 3)."""
    t = torch.full((x.shape[0],), step, dtype=torch.long, device=x.device)
    return diffusion.predict(model, x / math.sqrt(sigma**2 + 1.0), t, clip_x0=clip_x0)


def _setup(
    model: Model, diffusion: GaussianDiffusion, shape: Sequence[int], steps: int,
    timesteps: Sequence[int] | None, noise: Tensor | None, generator: torch.Generator | None,
    device: torch.device | str | None,
) -> tuple[list[int], list[float], Tensor]:
    """The timestep grid, its σ (ending in 0) and the VE start x = x_T √(σ_0² + 1)."""
    grid = check_timesteps(diffusion.num_timesteps, timesteps) if timesteps is not None else karras_timesteps(
        diffusion, steps)
    sigmas = karras_sigmas(diffusion, grid)
    x = initial_noise(shape, noise, generator, resolve_device(model, noise, device))
    return grid, sigmas, x * math.sqrt(sigmas[0] ** 2 + 1.0)


def _vp(x: Tensor, sigma: float) -> Tensor:
    return x / math.sqrt(sigma**2 + 1.0)


@torch.no_grad()
def euler_sample(
    model: Model, diffusion: GaussianDiffusion, shape: Sequence[int], *, steps: int = 50,
    timesteps: Sequence[int] | None = None, noise: Tensor | None = None,
    generator: torch.Generator | None = None, clip_x0: bool = False, device: torch.device | str | None = None,
) -> Iterator[SamplerStep]:
    """Euler's method on the probability-flow ODE, Karras et al. 2022 Algorithm 1 without the correction."""
    grid, sigmas, x = _setup(model, diffusion, shape, steps, timesteps, noise, generator, device)
    for i, step in enumerate(grid):
        prediction = _denoise(model, diffusion, x, sigmas[i], step, clip_x0)
        x = x + (sigmas[i + 1] - sigmas[i]) * prediction.eps  # line 5-6: x_{i+1} = x_i + (σ_{i+1} - σ_i) d_i
        yield SamplerStep(i, len(grid), step, _vp(x, sigmas[i + 1]), prediction.x0, prediction.eps)


@torch.no_grad()
def heun_sample(
    model: Model, diffusion: GaussianDiffusion, shape: Sequence[int], *, steps: int = 50,
    timesteps: Sequence[int] | None = None, noise: Tensor | None = None,
    generator: torch.Generator | None = None, clip_x0: bool = False, device: torch.device | str | None = None,
) -> Iterator[SamplerStep]:
    """Heun's 2nd-order method, Karras et al. 2022 Algorithm 1 (2 NFE per step, 1 for the step to σ = 0).

    Each yielded step carries the predictions of its first evaluation (at ``t``)."""
    grid, sigmas, x = _setup(model, diffusion, shape, steps, timesteps, noise, generator, device)
    for i, step in enumerate(grid):
        prediction = _denoise(model, diffusion, x, sigmas[i], step, clip_x0)
        dt = sigmas[i + 1] - sigmas[i]
        x_euler = x + dt * prediction.eps  # line 6
        if sigmas[i + 1] == 0.0:  # line 7: the step to σ = 0 stays Euler
            x = x_euler
        else:  # lines 8-9: average d_i with the slope d'_i at the Euler point
            slope = _denoise(model, diffusion, x_euler, sigmas[i + 1], grid[i + 1], clip_x0).eps
            x = x + (0.5 * dt) * (prediction.eps + slope)
        yield SamplerStep(i, len(grid), step, _vp(x, sigmas[i + 1]), prediction.x0, prediction.eps)


@torch.no_grad()
def euler_ancestral_sample(
    model: Model, diffusion: GaussianDiffusion, shape: Sequence[int], *, steps: int = 50,
    timesteps: Sequence[int] | None = None, eta: float = 1.0, noise: Tensor | None = None,
    generator: torch.Generator | None = None, clip_x0: bool = False, noise_scale: float = 1.0,
    device: torch.device | str | None = None,
) -> Iterator[SamplerStep]:
    """Ancestral Euler (k-diffusion ``sample_euler_ancestral``; Karras et al. 2022 Sec. 4, Song et al. 2021):
    an Euler step down to σ_down, then fresh noise of σ_up, with σ_up² = η² σ²_{i+1}(σ²_i - σ²_{i+1})/σ²_i."""
    if not math.isfinite(eta) or not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be a number in [0, 1], got {eta!r}")
    grid, sigmas, x = _setup(model, diffusion, shape, steps, timesteps, noise, generator, device)
    for i, step in enumerate(grid):
        prediction = _denoise(model, diffusion, x, sigmas[i], step, clip_x0)
        s, s_next = sigmas[i], sigmas[i + 1]
        sigma_up = min(s_next, eta * math.sqrt(s_next**2 * (s**2 - s_next**2) / s**2))
        sigma_down = math.sqrt(s_next**2 - sigma_up**2)
        x = x + (sigma_down - s) * prediction.eps
        if sigma_up > 0.0:
            x = x + (sigma_up * noise_scale) * randn(x.shape, generator, x.device)
        yield SamplerStep(i, len(grid), step, _vp(x, s_next), prediction.x0, prediction.eps)
