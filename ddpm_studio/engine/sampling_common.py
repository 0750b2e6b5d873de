"""What every sampler shares: the yielded :class:`SamplerStep`, timestep grids, and passed-in randomness.

Randomness comes only from ``noise=`` (x_T) and ``generator=`` (every fresh z). Draws happen on the
generator's device and are then moved, so a CPU generator gives the same numbers on any device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ddpm_studio.engine.diffusion import Model

__all__ = ["SamplerStep", "ddim_timesteps", "dpm_timesteps", "logsnr_timesteps", "check_timesteps", "initial_noise",
           "randn", "resolve_device"]


@dataclass(frozen=True)
class SamplerStep:
    """One reverse step: ``xt`` is the state *after* denoising at timestep ``t`` (the image when t == 0)."""

    index: int  # 0 .. num_steps - 1
    num_steps: int
    t: int  # the 0-based timestep the model was evaluated at
    xt: Tensor  # (B, C, H, W) the new state x_{t_prev}
    x0_pred: Tensor  # (B, C, H, W) predicted x_0 at this step
    eps_pred: Tensor  # (B, C, H, W) predicted noise at this step


def resolve_device(model: Model, noise: Tensor | None, device: torch.device | str | None) -> torch.device:
    """``device`` if given, else the noise's, else the model's first parameter's, else the CPU."""
    if device is not None:
        return torch.device(device)
    if noise is not None:
        return noise.device
    if isinstance(model, nn.Module):
        parameter = next(model.parameters(), None)
        if parameter is not None:
            return parameter.device
    return torch.device("cpu")


def randn(shape: Sequence[int], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Standard normal float32 drawn on the generator's device, returned on ``device``."""
    draw_device = generator.device if generator is not None else device
    return torch.randn(tuple(shape), generator=generator, device=draw_device, dtype=torch.float32).to(device)


def initial_noise(
    shape: Sequence[int], noise: Tensor | None, generator: torch.Generator | None, device: torch.device
) -> Tensor:
    """x_T: ``noise`` (checked against ``shape``) or a fresh draw from ``generator``."""
    if len(shape) < 2:
        raise ValueError(f"shape must be (B, C, ...), got {tuple(shape)}")
    if noise is None:
        return randn(shape, generator, device)
    if tuple(noise.shape) != tuple(shape):
        raise ValueError(f"noise has shape {tuple(noise.shape)} but the sample shape is {tuple(shape)}")
    return noise.to(device=device, dtype=torch.float32)


def _check_steps(num_timesteps: int, steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= num_timesteps:
        raise ValueError(f"steps must be an integer in 1..{num_timesteps} (T), got {steps!r}")


def ddim_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """``steps`` evenly spaced 0-based timesteps from T-1 down to 0 (just [T-1] for one step)."""
    _check_steps(num_timesteps, steps)
    if steps == 1:
        return [num_timesteps - 1]
    grid = torch.linspace(0, num_timesteps - 1, steps, dtype=torch.float64).round().long()
    return grid.flip(0).tolist()


def dpm_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """diffusers' "linspace" grid for DPM-Solver: ``steps + 1`` points from T-1 to 0, rounded, the 0 dropped
    (the solver's final step goes to σ = 0 instead). ``steps == T`` gives every timestep T-1 .. 0."""
    _check_steps(num_timesteps, steps)
    if steps == num_timesteps:
        return list(range(num_timesteps - 1, -1, -1))
    grid = torch.linspace(0, num_timesteps - 1, steps + 1, dtype=torch.float64).round().long()
    return grid.flip(0)[:-1].tolist()


def logsnr_timesteps(alphas_cumprod: Tensor, steps: int, *, sigma_max: float | None = None) -> list[int]:
    """Lu et al. 2022 ("DPM-Solver", Sec. 3.3, the "logSNR" spacing they recommend for pixel-space models):
    ``steps`` points evenly spaced in the half log-SNR λ_t = log(α_t/σ_t) = ½ log(ᾱ_t/(1-ᾱ_t)), from λ(T-1)
    (or λ = -log σ_max when that is later, σ_max in the VE scale √((1-ᾱ)/ᾱ) as in Karras et al.) to λ(0),
    each mapped to the timestep nearest in λ and kept strictly decreasing (so ``steps`` timesteps always
    come back). A solver that ends at σ = 0 (DPM-Solver++) takes its final step from t = 0."""
    num_timesteps = alphas_cumprod.shape[0]
    _check_steps(num_timesteps, steps)
    ab = alphas_cumprod.to(torch.float64)
    lambdas = 0.5 * (torch.log(ab) - torch.log1p(-ab))  # decreasing in t
    lo = float(lambdas[-1]) if sigma_max is None else max(float(lambdas[-1]), -math.log(sigma_max))
    targets = torch.linspace(lo, float(lambdas[0]), steps, dtype=torch.float64)
    return _nearest_decreasing(targets, lambdas, steps)


def _nearest_decreasing(targets: Tensor, values: Tensor, steps: int) -> list[int]:
    """For each target (in the order the sampler visits them), the timestep whose value is nearest, then made
    strictly decreasing while leaving room for the steps still to come (as ``karras_timesteps`` does)."""
    nearest = (targets.unsqueeze(1) - values.unsqueeze(0)).abs().argmin(1).tolist()
    grid: list[int] = []
    for i, t in enumerate(nearest):
        t = min(t, grid[-1] - 1) if grid else t
        grid.append(max(t, steps - 1 - i))
    return grid


def check_timesteps(num_timesteps: int, timesteps: Sequence[int]) -> list[int]:
    """A caller's grid as a list, after checking it is strictly decreasing within 0..T-1."""
    grid = [int(t) for t in timesteps]
    if (any(g != t for g, t in zip(grid, timesteps)) or not grid or any(a <= b for a, b in zip(grid, grid[1:]))
            or grid[0] >= num_timesteps or grid[-1] < 0):
        raise ValueError(f"timesteps must be strictly decreasing integers in 0..{num_timesteps - 1}, got {grid}")
    return grid
