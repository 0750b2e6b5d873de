"""Inpainting without retraining: the reverse process with the known pixels re-imposed from q(x_t | x_0) at every
step, and RePaint's resampling (Lugmayr et al. 2022, "RePaint: Inpainting using Denoising Diffusion Probabilistic
Models") so that the filled region agrees with its surroundings.

1. The constraint (RePaint eq. 8 / Alg. 1 line 5-7): after a step has reached x_t, the known pixels (mask m = 1)
   are replaced by a fresh draw of q(x_t | x_0) = N(√ᾱ_t x_0, (1-ᾱ_t) I) (Ho et al. eq. 4); at the end (t = -1)
   by x_0 itself, so the known pixels of the output equal the input exactly. It is one ``constrain=`` hook, which
   every sampler of the table accepts (``sampling_common.Constraint``), so inpainting works with all of them.
2. Resampling (RePaint Sec. 4.2, Alg. 1 line 9): the sampler's grid is cut into segments of ``jump_length``
   steps; each segment is run ``resample`` times, and between two runs the state jumps back up from the
   segment's end t_b to its start t_a by the forward process, q(x_{t_a} | x_{t_b}) =
   N(√(ᾱ_a/ᾱ_b) x_{t_b}, (1 - ᾱ_a/ᾱ_b) I), so the model sees the known region again at every level and
   harmonises the unknown one with it. ``resample = 1`` is plain replacement ("replace"): one pass, no jumps.
   A multistep solver (DPM-Solver++) restarts its history at each segment (first order there).

The constraint draws its noise from its own generator, so a mask that keeps nothing leaves the sampler's own
random stream untouched: replacement with an empty known region is exactly plain sampling from the same noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from ddpm_studio.engine.diffusion import GaussianDiffusion, Model
from ddpm_studio.engine.forward import q_sample
from ddpm_studio.engine.sampler_table import SAMPLERS, SamplerSpec
from ddpm_studio.engine.sampling_common import Constraint, SamplerStep, randn

__all__ = ["RePaintConfig", "known_pixels", "inpaint", "inpaint_nfe"]


@dataclass(frozen=True)
class RePaintConfig:
    """RePaint's resampling (defaults: the paper's j = 10, r = 10 on a 250-step schedule)."""

    jump_length: int = 10  # sampler steps per segment
    resample: int = 10  # runs of each segment; 1 = plain replacement, no resampling

    def validate(self) -> None:
        for name in ("jump_length", "resample"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
                raise ValueError(f"{name} must be an integer in 1..1000, got {value!r}")


def known_pixels(diffusion: GaussianDiffusion, x0: Tensor, known: Tensor, generator: torch.Generator | None
                 ) -> Constraint:
    """The hook: the known pixels (``known`` = 1, broadcast against x0) of x_t replaced by a draw of q(x_t | x_0)."""
    if known.dim() != x0.dim() or any(k not in (1, s) for k, s in zip(known.shape, x0.shape)):
        raise ValueError(f"the mask has shape {tuple(known.shape)}; it must broadcast against the images "
                         f"{tuple(x0.shape)} (1 = known)")
    known = known.to(x0.device, torch.float32)
    schedule = diffusion.schedule_for(x0)

    def constrain(x: Tensor, t: int) -> Tensor:
        if t < 0:
            target = x0
        else:
            timestep = torch.full((x0.shape[0],), t, dtype=torch.long, device=x0.device)
            target = q_sample(schedule, x0, timestep, randn(x0.shape, generator, x0.device)).to(x.dtype)
        return known * target + (1.0 - known) * x

    return constrain


def _segments(grid: list[int], jump_length: int) -> list[tuple[list[int], int]]:
    """(the segment's timesteps, the timestep it ends at: the next segment's start, or -1 for x_0)."""
    out = []
    for start in range(0, len(grid), jump_length):
        segment = grid[start:start + jump_length]
        out.append((segment, grid[start + jump_length] if start + jump_length < len(grid) else -1))
    return out


def inpaint_nfe(method: str, steps: int, num_timesteps: int, repaint: RePaintConfig) -> int:
    """Network evaluations of :func:`inpaint`: every segment's cost, ``resample`` times (1: the plain run)."""
    spec = SAMPLERS.lookup(method)
    if repaint.resample == 1:
        return spec.nfe(steps, num_timesteps)
    n = spec.num_steps(steps, num_timesteps)
    total = 0
    for start in range(0, n, repaint.jump_length):
        length = min(repaint.jump_length, n - start)
        last = start + length == n  # only the final segment ends at σ = 0, where Heun saves an evaluation
        total += spec.cost(length) if last else spec.evals_per_step * length
    return total * repaint.resample


@torch.no_grad()
def inpaint(model: Model, diffusion: GaussianDiffusion, x0: Tensor, known: Tensor, *, method: str = "ddim",
            steps: int = 50, repaint: RePaintConfig = RePaintConfig(resample=1), noise: Tensor | None = None,
            generator: torch.Generator | None = None, constraint_generator: torch.Generator | None = None,
            clip_x0: bool = True, **options) -> Iterator[SamplerStep]:
    """Fill the unknown pixels (``known`` = 0) of ``x0`` (B, C, ...) with sampler ``method`` (any table row) on its
    own grid of ``steps`` steps, re-imposing the known ones at every step; RePaint's resampling when
    ``repaint.resample`` > 1. x_T is ``noise`` or drawn from ``generator``, which also gives the sampler's fresh
    noise; ``constraint_generator`` the known pixels' noise. Yields every step (resampled ones included)."""
    repaint.validate()
    spec = SAMPLERS.lookup(method)
    x0 = x0.to(torch.float32)
    constrain = known_pixels(diffusion, x0, known, constraint_generator)
    grid = spec.grid_for(diffusion, steps)
    x = randn(x0.shape, generator, x0.device) if noise is None else noise.to(x0.device, torch.float32)
    x = constrain(x, grid[0])
    if repaint.resample == 1:  # "replace": one pass of the sampler as it is
        yield from spec.fn(model, diffusion, x0.shape, timesteps=grid, clip_x0=clip_x0, noise=x, generator=generator,
                           device=x0.device, constrain=constrain, **options)
        return
    yield from _resampled(spec, model, diffusion, x, grid, repaint, constrain, generator, clip_x0, options)


def _resampled(spec: SamplerSpec, model: Model, diffusion: GaussianDiffusion, x: Tensor, grid: list[int],
               repaint: RePaintConfig, constrain: Constraint, generator: torch.Generator | None, clip_x0: bool,
               options: dict) -> Iterator[SamplerStep]:
    """RePaint's schedule over ``grid``: each segment run ``resample`` times, with a forward jump between runs."""
    ab = diffusion.schedule.alphas_cumprod.tolist()
    segments = _segments(grid, repaint.jump_length)
    total, index = len(grid) * repaint.resample, 0
    for segment, end in segments:
        run_grid = segment + ([end] if end >= 0 else [])
        for r in range(repaint.resample):
            steps = spec.fn(model, diffusion, x.shape, timesteps=run_grid, clip_x0=clip_x0, noise=x,
                            generator=generator, device=x.device, constrain=constrain, **options)
            for _, step in zip(segment, steps):  # the segment's steps: they end at `end`, not at x_0
                x = step.xt
                yield SamplerStep(index, total, step.t, x, step.x0_pred, step.eps_pred)
                index += 1
            if r + 1 < repaint.resample:  # jump back up: x_{t_a} ~ q(x_{t_a} | x_{t_b}), RePaint eq. (8)
                ratio = ab[segment[0]] / (ab[end] if end >= 0 else 1.0)
                x = math.sqrt(ratio) * x + math.sqrt(1.0 - ratio) * randn(x.shape, generator, x.device)
                x = constrain(x, segment[0])
