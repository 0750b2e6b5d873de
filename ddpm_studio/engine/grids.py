"""Timestep grids: which of the T timesteps a sampler visits, built outside the samplers (k-diffusion's
``get_sigmas_*`` + ``sample_*(model, x, sigmas)`` split), so every sampler takes one ``timesteps=`` list.

A grid is strictly decreasing, within 0..T-1, and its last point is where the sampler's final step starts
(every sampler here ends at x_0). Each grid function reads only ᾱ (float64) and ``steps``, so a grid over the
truncated range 0..t_max -- SDEdit from t_max, inpainting's resampling jumps -- is the same function on
``alphas_cumprod[: t_max + 1]``: one grid definition for sampling and probing alike.

The grids (``GRIDS``; each sampler's default is its row in ``engine.sampler_table``):
- "all": every timestep T-1 .. 0 (DDPM's ancestral chain, Ho et al. Algorithm 2); ``steps`` is ignored.
- "even": ``steps`` points evenly spaced from T-1 to 0 (DDIM, Song et al. 2021 Sec. 4.2 "linear").
- "linspace": diffusers' DPM-Solver grid: ``steps + 1`` points from T-1 to 0, the 0 dropped.
- "karras": Karras et al. 2022 eq. (5), ρ = 7, from σ = min(σ(T-1), 80) to σ(0).
- "logsnr": Lu et al. 2022 Sec. 3.3, even in λ = ½ log(ᾱ/(1-ᾱ)).

Step policy: a grid raises on steps outside 1..T (the number of timesteps it may use). Where a face clamps a
requested step count on purpose (SDEdit from a small t, previews of a short-T model), it calls
:func:`fit_steps`, the one named clamp, so the clamp is visible where it happens.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["GRIDS", "GridFn", "make_grid", "check_timesteps", "fit_steps", "ddim_timesteps", "dpm_timesteps",
           "karras_timesteps", "logsnr_timesteps", "KARRAS_SIGMA_MAX"]

GridFn = Callable[[Tensor, int], list[int]]  # (alphas_cumprod (T,) float64, steps) -> strictly decreasing timesteps
KARRAS_SIGMA_MAX = 80.0  # Karras et al. 2022, Table 1


def _check_steps(num_timesteps: int, steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= num_timesteps:
        raise ValueError(f"steps must be an integer in 1..{num_timesteps} (T), got {steps!r}")


def fit_steps(steps: int, available: int) -> int:
    """The deliberate clamp of a face: ``steps`` limited to the ``available`` timesteps (at least 1).

    Engine samplers raise on steps > T; callers that want "as many as fit" (SDEdit from t: t + 1 timesteps;
    previews on a model with small T) say so by calling this."""
    return max(1, min(int(steps), int(available)))


def ddim_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """"even": ``steps`` evenly spaced 0-based timesteps from T-1 down to 0 (just [T-1] for one step)."""
    _check_steps(num_timesteps, steps)
    if steps == 1:
        return [num_timesteps - 1]
    grid = torch.linspace(0, num_timesteps - 1, steps, dtype=torch.float64).round().long()
    return grid.flip(0).tolist()


def dpm_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """"linspace", diffusers' grid for DPM-Solver: ``steps + 1`` points from T-1 to 0, rounded, the 0 dropped
    (the solver's final step goes to σ = 0 instead). ``steps == T`` gives every timestep T-1 .. 0."""
    _check_steps(num_timesteps, steps)
    if steps == num_timesteps:
        return list(range(num_timesteps - 1, -1, -1))
    grid = torch.linspace(0, num_timesteps - 1, steps + 1, dtype=torch.float64).round().long()
    return grid.flip(0)[:-1].tolist()


def karras_timesteps(alphas_cumprod: Tensor, steps: int, *, rho: float = 7.0,
                     sigma_max: float = KARRAS_SIGMA_MAX) -> list[int]:
    """Karras et al. 2022 eq. (5): σ_i = (σ_max^{1/ρ} + i/(N-1) (σ_min^{1/ρ} - σ_max^{1/ρ}))^ρ from
    min(σ(T-1), σ_max) to σ(0), each mapped to the timestep nearest in log σ, kept strictly decreasing.

    ρ = 7 spends the steps where the ODE bends (high σ) instead of evenly in t. With the cosine schedule
    (σ(T-1) ≈ 2·10⁴, σ(0.9 T) ≈ 6) an even grid makes Heun's first trapezoid span σ ratios of 10³ and blow up;
    starting at σ = 80 treats x_T as x_t at that t (√ᾱ_t ≈ 0.012: nearly pure noise)."""
    ab = alphas_cumprod.to(torch.float64)
    _check_steps(ab.shape[0], steps)
    log_sigmas = 0.5 * (torch.log1p(-ab) - torch.log(ab))  # increasing in t
    ramp = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    hi = min(float(log_sigmas[-1].exp()), sigma_max) ** (1.0 / rho)
    lo = log_sigmas[0].exp() ** (1.0 / rho)
    targets = (rho * torch.log(hi + ramp * (lo - hi))).clamp(log_sigmas[0], log_sigmas[-1])
    return _nearest_decreasing(targets, log_sigmas, steps)


def logsnr_timesteps(alphas_cumprod: Tensor, steps: int, *, sigma_max: float | None = None) -> list[int]:
    """Lu et al. 2022 ("DPM-Solver", Sec. 3.3, the "logSNR" spacing they recommend for pixel-space models):
    ``steps`` points evenly spaced in the half log-SNR λ_t = ½ log(ᾱ_t/(1-ᾱ_t)), from λ(T-1) (or λ = -log σ_max
    when that is later) to λ(0), each mapped to the timestep nearest in λ, kept strictly decreasing."""
    ab = alphas_cumprod.to(torch.float64)
    _check_steps(ab.shape[0], steps)
    lambdas = 0.5 * (torch.log(ab) - torch.log1p(-ab))  # decreasing in t
    lo = float(lambdas[-1]) if sigma_max is None else max(float(lambdas[-1]), -math.log(sigma_max))
    targets = torch.linspace(lo, float(lambdas[0]), steps, dtype=torch.float64)
    return _nearest_decreasing(targets, lambdas, steps)


def _nearest_decreasing(targets: Tensor, values: Tensor, steps: int) -> list[int]:
    """For each target (in the order the sampler visits them), the timestep whose value is nearest, then made
    strictly decreasing while leaving room for the steps still to come."""
    nearest = (targets.unsqueeze(1) - values.unsqueeze(0)).abs().argmin(1).tolist()
    grid: list[int] = []
    for i, t in enumerate(nearest):
        t = min(t, grid[-1] - 1) if grid else t
        grid.append(max(t, steps - 1 - i))
    return grid


def _all_timesteps(alphas_cumprod: Tensor, steps: int) -> list[int]:
    """"all": every timestep, T-1 .. 0; ``steps`` is not used (DDPM's cost is T whatever it is set to)."""
    return list(range(alphas_cumprod.shape[0] - 1, -1, -1))


GRIDS: dict[str, GridFn] = {
    "all": _all_timesteps,
    "even": lambda ab, steps: ddim_timesteps(ab.shape[0], steps),
    "linspace": lambda ab, steps: dpm_timesteps(ab.shape[0], steps),
    "karras": karras_timesteps,
    "logsnr": logsnr_timesteps,
}
FIXED_LENGTH_GRIDS = frozenset({"all"})  # grids whose length does not follow ``steps``


def make_grid(name: str, alphas_cumprod: Tensor, steps: int, *, t_max: int | None = None) -> list[int]:
    """The grid ``name`` of ``steps`` points over timesteps 0..t_max (default T-1)."""
    if name not in GRIDS:
        raise ValueError(f"grid must be one of {', '.join(GRIDS)}, got {name!r}")
    num_timesteps = alphas_cumprod.shape[0]
    if t_max is not None:
        if isinstance(t_max, bool) or not isinstance(t_max, int) or not 0 <= t_max < num_timesteps:
            raise ValueError(f"t_max must be an integer in 0..{num_timesteps - 1}, got {t_max!r}")
        alphas_cumprod = alphas_cumprod[: t_max + 1]
    return GRIDS[name](alphas_cumprod, steps)


def check_timesteps(num_timesteps: int, timesteps: Sequence[int]) -> list[int]:
    """A caller's grid as a list, after checking it is strictly decreasing within 0..T-1."""
    grid = [int(t) for t in timesteps]
    if (any(g != t for g, t in zip(grid, timesteps)) or not grid or any(a <= b for a, b in zip(grid, grid[1:]))
            or grid[0] >= num_timesteps or grid[-1] < 0):
        raise ValueError(f"timesteps must be strictly decreasing integers in 0..{num_timesteps - 1}, got {grid}")
    return grid
