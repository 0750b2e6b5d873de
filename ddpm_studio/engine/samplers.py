"""Reverse-process samplers as generators: each step yields a :class:`SamplerStep` (improved-diffusion's
``p_sample_loop_progressive``), so the GUI animation, the CLI progress bar and the tests share one loop.

Randomness comes only from ``noise=`` (x_T) and ``generator=`` (every fresh z). Draws happen on the
generator's device and are then moved, so a CPU generator gives the same numbers on any device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import Tensor, nn

from ddpm_studio.engine.config import SamplingConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion, Model

__all__ = ["SamplerStep", "ddim_timesteps", "ddpm_sample", "ddim_sample", "ddim_invert", "sample"]


@dataclass(frozen=True)
class SamplerStep:
    """One reverse step: ``xt`` is the state *after* denoising at timestep ``t`` (the image when t == 0)."""

    index: int  # 0 .. num_steps - 1
    num_steps: int
    t: int  # the 0-based timestep the model was evaluated at
    xt: Tensor  # (B, C, H, W) the new state x_{t_prev}
    x0_pred: Tensor  # (B, C, H, W) predicted x_0 at this step
    eps_pred: Tensor  # (B, C, H, W) predicted noise at this step


def _resolve_device(model: Model, noise: Tensor | None, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    if noise is not None:
        return noise.device
    if isinstance(model, nn.Module):
        parameter = next(model.parameters(), None)
        if parameter is not None:
            return parameter.device
    return torch.device("cpu")


def _randn(shape: Sequence[int], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Standard normal float32 drawn on the generator's device, returned on ``device``."""
    draw_device = generator.device if generator is not None else device
    return torch.randn(tuple(shape), generator=generator, device=draw_device, dtype=torch.float32).to(device)


def _initial_noise(
    shape: Sequence[int], noise: Tensor | None, generator: torch.Generator | None, device: torch.device
) -> Tensor:
    if len(shape) < 2:
        raise ValueError(f"shape must be (B, C, ...), got {tuple(shape)}")
    if noise is None:
        return _randn(shape, generator, device)
    if tuple(noise.shape) != tuple(shape):
        raise ValueError(f"noise has shape {tuple(noise.shape)} but the sample shape is {tuple(shape)}")
    return noise.to(device=device, dtype=torch.float32)


def ddim_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """``steps`` evenly spaced 0-based timesteps from T-1 down to 0 (just [T-1] for one step)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= num_timesteps:
        raise ValueError(f"steps must be an integer in 1..{num_timesteps} (T), got {steps!r}")
    if steps == 1:
        return [num_timesteps - 1]
    grid = torch.linspace(0, num_timesteps - 1, steps, dtype=torch.float64).round().long()
    return grid.flip(0).tolist()


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
    device = _resolve_device(model, noise, device)
    x = _initial_noise(shape, noise, generator, device)
    num_steps = diffusion.num_timesteps
    for index, step in enumerate(reversed(range(num_steps))):
        t = torch.full((x.shape[0],), step, dtype=torch.long, device=device)
        mean, log_variance, prediction = diffusion.p_mean_variance(
            model, x, t, clip_x0=clip_x0, variance=variance
        )
        if step > 0:  # no noise at the last step (Algorithm 2, line 3)
            z = _randn(x.shape, generator, device)
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
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    clip_x0: bool = True,
    noise_scale: float = 1.0,
    device: torch.device | str | None = None,
) -> Iterator[SamplerStep]:
    """DDIM, Song et al. 2021 eq. (12) with σ from eq. (16) scaled by η; η = 0 is deterministic."""
    if not math.isfinite(eta) or eta < 0:
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    timesteps = ddim_timesteps(diffusion.num_timesteps, steps)
    alphas_cumprod = diffusion.schedule.alphas_cumprod.tolist()  # float64 scalars
    device = _resolve_device(model, noise, device)
    x = _initial_noise(shape, noise, generator, device)
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
            x = x + (sigma * noise_scale) * _randn(x.shape, generator, device)
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
    """Run the sampler chosen by ``config`` with a CPU generator seeded from ``config.seed``."""
    config.validate()
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    if config.method == "ddpm":
        return ddpm_sample(
            model, diffusion, shape, noise=noise, generator=generator, variance=config.variance,
            clip_x0=config.clip_x0, noise_scale=config.noise_scale, device=device,
        )
    return ddim_sample(
        model, diffusion, shape, steps=config.steps, eta=config.eta, noise=noise, generator=generator,
        clip_x0=config.clip_x0, noise_scale=config.noise_scale, device=device,
    )
