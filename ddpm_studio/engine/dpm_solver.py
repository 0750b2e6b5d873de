"""DPM-Solver++(2M), Lu et al. 2022 ("DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
Models"), Algorithm 2: the multistep second-order solver of the probability-flow ODE in data prediction x̂_0.

With α_t = √ᾱ_t, σ_t = √(1-ᾱ_t) and the half log-SNR λ_t = log(α_t/σ_t), the exact solution from s to t
x_t = (σ_t/σ_s) x_s + σ_t ∫ e^λ x̂_0 dλ is approximated with x̂_0 extrapolated linearly in λ from the last
two evaluations. As in diffusers' ``DPMSolverMultistepScheduler`` (solver_order=2, "midpoint",
lower_order_final, final_sigmas_type="zero"), the first step and the final step to σ = 0 are first order,
which is DDIM; the final step therefore returns the last x̂_0.

The grid matters more than the order on a cosine-schedule pixel model; its default is the "karras" row of
``sampler_table`` (chosen by measurement: docs/decisions.md, "DPM-Solver++ grid").
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from ddpm_studio.engine.diffusion import GaussianDiffusion, Model
from ddpm_studio.engine.grids import check_timesteps
from ddpm_studio.engine.sampling_common import Constraint, SamplerStep, initial_noise, next_timestep, resolve_device

__all__ = ["dpm_solver_2m_sample"]

def _alpha_sigma_lambda(alphas_cumprod: list[float], t: int | None) -> tuple[float, float, float]:
    """(α_t, σ_t, λ_t) at timestep t; ``None`` is the end point α = 1, σ = 0, λ = +∞."""
    if t is None:
        return 1.0, 0.0, math.inf
    alpha, sigma = math.sqrt(alphas_cumprod[t]), math.sqrt(1.0 - alphas_cumprod[t])
    return alpha, sigma, math.log(alpha) - math.log(sigma)


@torch.no_grad()
def dpm_solver_2m_sample(
    model: Model, diffusion: GaussianDiffusion, shape: Sequence[int], *, timesteps: Sequence[int], clip_x0: bool,
    noise: Tensor | None = None, generator: torch.Generator | None = None, device: torch.device | str | None = None,
    constrain: Constraint | None = None,
) -> Iterator[SamplerStep]:
    """DPM-Solver++(2M), Lu et al. 2022 Algorithm 2, first order at the first and the last step (1 NFE/step).

    ``timesteps`` is the strictly decreasing grid the solver evaluates at; its final step goes to σ = 0."""
    grid = check_timesteps(diffusion.num_timesteps, timesteps)
    alphas_cumprod = diffusion.schedule.alphas_cumprod.tolist()
    x = initial_noise(shape, noise, generator, resolve_device(model, noise, device))
    x0_prev, h_prev = None, 0.0
    for i, step in enumerate(grid):
        t = torch.full((x.shape[0],), step, dtype=torch.long, device=x.device)
        prediction = diffusion.predict(model, x, t, clip_x0=clip_x0)
        _, sigma_s, lambda_s = _alpha_sigma_lambda(alphas_cumprod, step)
        last = i + 1 == len(grid)
        alpha_t, sigma_t, lambda_t = _alpha_sigma_lambda(alphas_cumprod, None if last else grid[i + 1])
        if last:  # σ_t = 0: x_t = x̂_0 (the first-order update with e^{-h} = 0)
            x = prediction.x0
        else:
            h = lambda_t - lambda_s
            if x0_prev is None:  # first order (DPM-Solver++ 1, i.e. DDIM)
                d = prediction.x0
            else:  # eq. (9)/Alg. 2: D = (1 + 1/(2r)) x̂_0(s) - 1/(2r) x̂_0(s_prev), r = h_prev / h
                half_over_r = 0.5 * h / h_prev
                d = (1.0 + half_over_r) * prediction.x0 - half_over_r * x0_prev
            x = (sigma_t / sigma_s) * x - (alpha_t * math.expm1(-h)) * d
            x0_prev, h_prev = prediction.x0, h
        if constrain is not None:
            x = constrain(x, next_timestep(grid, i))
        yield SamplerStep(i, len(grid), step, x, prediction.x0, prediction.eps)
