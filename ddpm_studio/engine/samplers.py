"""Reverse-process samplers as generators: each step yields a :class:`SamplerStep` (improved-diffusion's
``p_sample_loop_progressive``), so the GUI animation, the CLI progress bar and the tests share one loop.

This file holds DDPM, DDIM and DDIM inversion; the σ-parametrised samplers of Karras et al. live in
``karras.py``, DPM-Solver++(2M) in ``dpm_solver.py``, and the table that names them all (labels, cost, default
grid, the :func:`sample` entry point) in ``sampler_table.py``. Every sampler takes the grid it walks as
``timesteps=`` (``grids.py``). Randomness comes only from ``noise=`` (x_T) and ``generator=`` (every fresh z);
see ``sampling_common.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from ddpm_studio.engine.diffusion import GaussianDiffusion, Model
from ddpm_studio.engine.grids import check_timesteps, ddim_timesteps
from ddpm_studio.engine.sampling_common import (
    Constraint,
    SamplerStep,
    initial_noise,
    next_timestep,
    randn,
    resolve_device,
)

__all__ = ["ddpm_sample", "ddim_sample", "ddim_invert"]


@torch.no_grad()
def ddpm_sample(
    model: Model,
    diffusion: GaussianDiffusion,
    shape: Sequence[int],
    *,
    timesteps: Sequence[int],
    clip_x0: bool,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    variance: str = "fixed_small",
    noise_scale: float = 1.0,
    device: torch.device | str | None = None,
    constrain: Constraint | None = None,
) -> Iterator[SamplerStep]:
    """Ancestral sampling, Ho et al. Algorithm 2 / eq. (11): x_{t-1} = μ_θ(x_t, t) + σ_t z, one step per timestep.

    ``timesteps`` is the chain t_start, t_start - 1, .. 0 (all T for sampling; from t for SDEdit): the posterior
    q(x_{t-1} | x_t, x_0) of eq. (6)-(7) exists only between neighbouring timesteps (use DDIM, η = 1, to skip)."""
    if variance not in ("fixed_small", "fixed_large"):
        raise ValueError(f"unknown variance {variance!r}; choose fixed_small or fixed_large")
    grid = check_timesteps(diffusion.num_timesteps, timesteps)
    if grid != list(range(grid[0], grid[0] - len(grid), -1)):
        raise ValueError("DDPM walks consecutive timesteps (t, t-1, ...); got a grid that skips "
                         f"({grid[:4]}...); DDIM with eta = 1 samples on a sub-grid")
    device = resolve_device(model, noise, device)
    x = initial_noise(shape, noise, generator, device)
    num_steps = len(grid)
    for index, step in enumerate(grid):
        t = torch.full((x.shape[0],), step, dtype=torch.long, device=device)
        mean, log_variance, prediction = diffusion.p_mean_variance(
            model, x, t, clip_x0=clip_x0, variance=variance
        )
        if step > 0:  # no noise at the last step (Algorithm 2, line 3)
            z = randn(x.shape, generator, device)
            x = mean + torch.exp(0.5 * log_variance) * (noise_scale * z)
        else:
            x = mean
        if constrain is not None:
            x = constrain(x, step - 1)
        yield SamplerStep(index, num_steps, step, x, prediction.x0, prediction.eps)


@torch.no_grad()
def ddim_sample(
    model: Model,
    diffusion: GaussianDiffusion,
    shape: Sequence[int],
    *,
    timesteps: Sequence[int],
    clip_x0: bool,
    eta: float = 0.0,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    noise_scale: float = 1.0,
    device: torch.device | str | None = None,
    constrain: Constraint | None = None,
) -> Iterator[SamplerStep]:
    """DDIM, Song et al. 2021 eq. (12) with σ from eq. (16) scaled by η; η = 0 is deterministic.

    ``timesteps`` is the strictly decreasing grid (default: ``grids`` "even"); ``noise`` is x at its first."""
    if not math.isfinite(eta) or eta < 0:
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    timesteps = check_timesteps(diffusion.num_timesteps, timesteps)
    alphas_cumprod = diffusion.schedule.alphas_cumprod.tolist()  # float64 scalars
    device = resolve_device(model, noise, device)
    x = initial_noise(shape, noise, generator, device)
    for index, step in enumerate(timesteps):
        t = torch.full((x.shape[0],), step, dtype=torch.long, device=device)
        prediction = diffusion.predict(model, x, t, clip_x0=clip_x0)
        ab = alphas_cumprod[step]
        ab_prev = alphas_cumprod[timesteps[index + 1]] if index + 1 < len(timesteps) else 1.0
        # eq. (16): σ_t = η √((1 - ᾱ_prev) / (1 - ᾱ_t)) √(1 - ᾱ_t / ᾱ_prev)
        sigma = eta * math.sqrt((1.0 - ab_prev) / (1.0 - ab)) * math.sqrt(max(1.0 - ab / ab_prev, 0.0))
        direction = math.sqrt(max(1.0 - ab_prev - sigma**2, 0.0))  # "direction pointing to x_t"
        x = math.sqrt(ab_prev) * prediction.x0 + direction * prediction.eps
        if sigma > 0:
            x = x + (sigma * noise_scale) * randn(x.shape, generator, device)
        if constrain is not None:
            x = constrain(x, next_timestep(timesteps, index))
        yield SamplerStep(index, len(timesteps), step, x, prediction.x0, prediction.eps)


@torch.no_grad()
def ddim_invert(
    model: Model,
    diffusion: GaussianDiffusion,
    x0: Tensor,
    *,
    steps: int = 50,
) -> Iterator[SamplerStep]:
    """Deterministic DDIM encoding x_0 -> x_T (eq. 12 with η = 0 run forwards, ε evaluated at the target t).

    It walks the timesteps of :func:`ddim_sample` in reverse; the last yielded ``xt`` is the latent that
    ``ddim_sample(..., timesteps=ddim_timesteps(T, steps), eta=0, clip_x0=False, noise=latent)`` maps back to
    ``x0`` as steps grow.
    ``x0_pred``/``eps_pred`` are the model's predictions at each step; ``t`` is the timestep reached.
    """
    timesteps = list(reversed(ddim_timesteps(diffusion.num_timesteps, steps)))
    alphas_cumprod = diffusion.schedule.alphas_cumprod.tolist()
    x = x0.to(torch.float32)
    ab_prev = 1.0
    for index, step in enumerate(timesteps):
        t = torch.full((x.shape[0],), step, dtype=torch.long, device=x.device)
        ab = alphas_cumprod[step]
        prediction = diffusion.predict(model, x, t, clip_x0=False)  # ε(x_prev, t) ≈ ε(x_t, t)
        eps = prediction.eps
        x0_pred = (x - math.sqrt(1.0 - ab_prev) * eps) / math.sqrt(ab_prev)
        x = math.sqrt(ab) * x0_pred + math.sqrt(1.0 - ab) * eps
        ab_prev = ab
        yield SamplerStep(index, len(timesteps), step, x, x0_pred, eps)
