"""Euler, Heun and ancestral Euler in the σ parametrisation of Karras et al. 2022 ("EDM").

A discrete VP model sees x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε. Dividing by √ᾱ_t gives the variance-exploding state
x = x_0 + σ ε with σ_t = √((1-ᾱ_t)/ᾱ_t), whose probability-flow ODE is dx/dσ = (x - D(x; σ))/σ = ε̂
(Karras eq. 3 with s(t) = 1, σ(t) = t). The samplers integrate it over the σ of a grid of integer
timesteps (``timesteps=``; their default is Karras's ρ = 7 grid, ``grids.karras_timesteps``)
followed by σ = 0 (so the last step returns the denoised image). Internally they hold the VE
state; every yielded ``xt`` is the VP state x_t = x / √(σ² + 1), like DDPM's and DDIM's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from ddpm_studio.engine.diffusion import GaussianDiffusion, Model, ModelPrediction
from ddpm_studio.engine.grids import check_timesteps
from ddpm_studio.engine.sampling_common import (
    Constraint,
    SamplerStep,
    initial_noise,
    next_timestep,
    randn,
    resolve_device,
)

__all__ = ["karras_sigmas", "euler_sample", "heun_sample", "euler_ancestral_sample"]


def karras_sigmas(diffusion: GaussianDiffusion, timesteps: Sequence[int]) -> list[float]:
    """σ_t = √((1-ᾱ_t)/ᾱ_t) at each timestep (float64 scalars), with σ = 0 appended as the end point."""
    alphas_cumprod = diffusion.schedule.alphas_cumprod.tolist()
    return [math.sqrt((1.0 - alphas_cumprod[t]) / alphas_cumprod[t]) for t in timesteps] + [0.0]


def _denoise(
    model: Model, diffusion: GaussianDiffusion, x: Tensor, sigma: float, step: int, clip_x0: bool
) -> ModelPrediction:
    """The network at VE state x and σ_t: evaluated on x_t = x / √(σ² + 1); ε̂ is dx/dσ (Karras eq. 3)."""
    t = torch.full((x.shape[0],), step, dtype=torch.long, device=x.device)
    return diffusion.predict(model, x / math.sqrt(sigma**2 + 1.0), t, clip_x0=clip_x0)


def _setup(
    model: Model, diffusion: GaussianDiffusion, shape: Sequence[int], timesteps: Sequence[int],
    noise: Tensor | None, generator: torch.Generator | None, device: torch.device | str | None,
) -> tuple[list[int], list[float], Tensor]:
    """The timestep grid, its σ (ending in 0) and the VE start x = x_T √(σ_0² + 1)."""
    grid = check_timesteps(diffusion.num_timesteps, timesteps)
    sigmas = karras_sigmas(diffusion, grid)
    x = initial_noise(shape, noise, generator, resolve_device(model, noise, device))
    return grid, sigmas, x * math.sqrt(sigmas[0] ** 2 + 1.0)


def _vp(x: Tensor, sigma: float) -> Tensor:
    return x / math.sqrt(sigma**2 + 1.0)


def _constrained(x: Tensor, sigma: float, t: int, constrain: Constraint | None) -> Tensor:
    """The VE state after the hook: converted to the VP x_t it sees and back (x_VE = x_VP √(σ² + 1))."""
    if constrain is None:
        return x
    if sigma == 0.0:  # x_0: VE and VP states coincide; the hook's values are taken as they are
        return constrain(x, t)
    vp = _vp(x, sigma)
    return x + (constrain(vp, t) - vp) * math.sqrt(sigma**2 + 1.0)  # the change only: untouched pixels stay exact


@torch.no_grad()
def euler_sample(
    model: Model, diffusion: GaussianDiffusion, shape: Sequence[int], *, timesteps: Sequence[int], clip_x0: bool,
    noise: Tensor | None = None, generator: torch.Generator | None = None, device: torch.device | str | None = None,
    constrain: Constraint | None = None,
) -> Iterator[SamplerStep]:
    """Euler's method on the probability-flow ODE, Karras et al. 2022 Algorithm 1 without the correction."""
    grid, sigmas, x = _setup(model, diffusion, shape, timesteps, noise, generator, device)
    for i, step in enumerate(grid):
        prediction = _denoise(model, diffusion, x, sigmas[i], step, clip_x0)
        x = x + (sigmas[i + 1] - sigmas[i]) * prediction.eps  # line 5-6: x_{i+1} = x_i + (σ_{i+1} - σ_i) d_i
        x = _constrained(x, sigmas[i + 1], next_timestep(grid, i), constrain)
        yield SamplerStep(i, len(grid), step, _vp(x, sigmas[i + 1]), prediction.x0, prediction.eps)


@torch.no_grad()
def heun_sample(
    model: Model, diffusion: GaussianDiffusion, shape: Sequence[int], *, timesteps: Sequence[int], clip_x0: bool,
    noise: Tensor | None = None, generator: torch.Generator | None = None, device: torch.device | str | None = None,
    constrain: Constraint | None = None,
) -> Iterator[SamplerStep]:
    """Heun's 2nd-order method, Karras et al. 2022 Algorithm 1 (2 NFE per step, 1 for the step to σ = 0).

    Each yielded step carries the predictions of its first evaluation (at ``t``)."""
    grid, sigmas, x = _setup(model, diffusion, shape, timesteps, noise, generator, device)
    for i, step in enumerate(grid):
        prediction = _denoise(model, diffusion, x, sigmas[i], step, clip_x0)
        dt = sigmas[i + 1] - sigmas[i]
        x_euler = x + dt * prediction.eps  # line 6
        if sigmas[i + 1] == 0.0:  # line 7: the step to σ = 0 stays Euler
            x = x_euler
        else:  # lines 8-9: average d_i with the slope d'_i at the Euler point
            slope = _denoise(model, diffusion, x_euler, sigmas[i + 1], grid[i + 1], clip_x0).eps
            x = x + (0.5 * dt) * (prediction.eps + slope)
        x = _constrained(x, sigmas[i + 1], next_timestep(grid, i), constrain)
        yield SamplerStep(i, len(grid), step, _vp(x, sigmas[i + 1]), prediction.x0, prediction.eps)


@torch.no_grad()
def euler_ancestral_sample(
    model: Model, diffusion: GaussianDiffusion, shape: Sequence[int], *, timesteps: Sequence[int], clip_x0: bool,
    eta: float = 1.0, noise: Tensor | None = None, generator: torch.Generator | None = None,
    noise_scale: float = 1.0, device: torch.device | str | None = None, constrain: Constraint | None = None,
) -> Iterator[SamplerStep]:
    """Ancestral Euler (k-diffusion ``sample_euler_ancestral``; Karras et al. 2022 Sec. 4, Song et al. 2021):
    an Euler step down to σ_down, then fresh noise of σ_up, with σ_up² = η² σ²_{i+1}(σ²_i - σ²_{i+1})/σ²_i."""
    if not math.isfinite(eta) or not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be a number in [0, 1], got {eta!r}")
    grid, sigmas, x = _setup(model, diffusion, shape, timesteps, noise, generator, device)
    for i, step in enumerate(grid):
        prediction = _denoise(model, diffusion, x, sigmas[i], step, clip_x0)
        s, s_next = sigmas[i], sigmas[i + 1]
        sigma_up = min(s_next, eta * math.sqrt(s_next**2 * (s**2 - s_next**2) / s**2))
        sigma_down = math.sqrt(s_next**2 - sigma_up**2)
        x = x + (sigma_down - s) * prediction.eps
        if sigma_up > 0.0:
            x = x + (sigma_up * noise_scale) * randn(x.shape, generator, x.device)
        x = _constrained(x, s_next, next_timestep(grid, i), constrain)
        yield SamplerStep(i, len(grid), step, _vp(x, s_next), prediction.x0, prediction.eps)
