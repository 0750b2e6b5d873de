"""Reverse-process samplers as generators: each step yields a :class:`SamplerStep` (improved-diffusion's
``p_sample_loop_progressive``), so the GUI animation, the CLI progress bar and the tests share one loop.

This file holds DDPM, DDIM, DDIM inversion and the :func:`sample` dispatcher; the σ-parametrised samplers
of Karras et al. live in ``karras.py`` and DPM-Solver++(2M) in ``dpm_solver.py``. Randomness comes only
from ``noise=`` (x_T) and ``generator=`` (every fresh z); see ``sampling_common.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from ddpm_studio.engine.config import SamplingConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion, Model
from ddpm_studio.engine.dpm_solver import dpm_solver_2m_sample
from ddpm_studio.engine.karras import euler_ancestral_sample, euler_sample, heun_sample
from ddpm_studio.engine.sampling_common import (
    SamplerStep,
    check_timesteps,
    ddim_timesteps,
    initial_noise,
    randn,
    resolve_device,
)

__all__ = [
    "SamplerStep", "ddim_timesteps", "ddpm_sample", "ddim_sample", "ddim_invert", "dpm_solver_2m_sample",
    "euler_sample", "heun_sample", "euler_ancestral_sample", "sample",
]


@torch.no_grad()
def ddpm_sample(
    model: Model,
    diffusion: GaussianDiffusion,
    shape: Sequence[int],
    *,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    variance: str = "fixed_small",
    clip_x0: bool = True,
    noise_scale: float = 1.0,
    device: torch.device | str | None = None,
) -> Iterator[SamplerStep]:
    """Ancestral sampling, Ho et al. Algorithm 2 / eq. (11): x_{t-1} = μ_θ(x_t, t) + σ_t z, over all T steps."""
    if variance not in ("fixed_small", "fixed_large"):
        raise ValueError(f"unknown variance {variance!r}; choose fixed_small or fixed_large")
    device = resolve_device(model, noise, device)
    x = initial_noise(shape, noise, generator, device)
    num_steps = diffusion.num_timesteps
    for index, step in enumerate(reversed(range(num_steps))):
        t = torch.full((x.shape[0],), step, dtype=torch.long, device=device)
        mean, log_variance, prediction = diffusion.p_mean_variance(
            model, x, t, clip_x0=clip_x0, variance=variance
        )
        if step > 0:  # no noise at the last step (Algorithm 2, line 3)
            z = randn(x.shape, generator, device)
            x = mean + torch.exp(0.5 * log_variance) * (noise_scale * z)
        else:
            x = mean
        yield SamplerStep(index, num_steps, step, x, prediction.x0, prediction.eps)


@torch.no_grad()
def ddim_sample(
    model: Model,
    diffusion: GaussianDiffusion,
    shape: Sequence[int],
    *,
    steps: int = 50,
    eta: float = 0.0,
    timesteps: Sequence[int] | None = None,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    clip_x0: bool = True,
    noise_scale: float = 1.0,
    device: torch.device | str | None = None,
) -> Iterator[SamplerStep]:
    """DDIM, Song et al. 2021 eq. (12) with σ from eq. (16) scaled by η; η = 0 is deterministic.

    ``timesteps`` (strictly decreasing) replaces the even grid of ``steps``; ``noise`` is x at its first."""
    if not math.isfinite(eta) or eta < 0:
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    if timesteps is None:
        timesteps = ddim_timesteps(diffusion.num_timesteps, steps)
    else:
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
    ``ddim_sample(..., steps=steps, eta=0, clip_x0=False, noise=latent)`` maps back to ``x0`` as steps grow.
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


def sample(
    model: Model,
    diffusion: GaussianDiffusion,
    shape: Sequence[int],
    config: SamplingConfig,
    *,
    noise: Tensor | None = None,
    device: torch.device | str | None = None,
) -> Iterator[SamplerStep]:
    """Run the sampler chosen by ``config`` with a CPU generator seeded from ``config.seed``.

    It costs ``config.nfe(T)`` network evaluations; Euler ancestral always adds the full noise (η = 1)."""
    config.validate()
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    common = dict(noise=noise, generator=generator, clip_x0=config.clip_x0, device=device)
    if config.method == "ddpm":
        return ddpm_sample(model, diffusion, shape, variance=config.variance, noise_scale=config.noise_scale,
                           **common)
    if config.method == "ddim":
        return ddim_sample(model, diffusion, shape, steps=config.steps, eta=config.eta,
                           noise_scale=config.noise_scale, **common)
    if config.method == "euler_ancestral":
        return euler_ancestral_sample(model, diffusion, shape, steps=config.steps,
                                      noise_scale=config.noise_scale, **common)
    ode_samplers = {"euler": euler_sample, "heun": heun_sample, "dpmpp_2m": dpm_solver_2m_sample}
    return ode_samplers[config.method](model, diffusion, shape, steps=config.steps, **common)
