"""What every sampler shares: the yielded :class:`SamplerStep` and passed-in randomness (grids: ``grids.py``).

Randomness comes only from ``noise=`` (x_T) and ``generator=`` (every fresh z). Draws happen on the
generator's device and are then moved, so a CPU generator gives the same numbers on any device.

x_T is drawn in one place, :func:`seeded_noise`: the first draw of a CPU generator seeded with the sampling
seed, and the same generator then gives the sampler's fresh noise. Every face that needs x_T itself (to share
it between lanes, chunks or sweep cells) calls :func:`draw_x_T`, so ``sample(config)`` and
``sample(config, noise=draw_x_T(config.seed, shape))`` are the same images, bit for bit, for every sampler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ddpm_studio.engine.diffusion import Model

__all__ = ["SamplerStep", "Constraint", "initial_noise", "randn", "resolve_device", "seeded_noise", "draw_x_T",
           "next_timestep"]


@dataclass(frozen=True)
class SamplerStep:
    """One reverse step: ``xt`` is the state *after* denoising at timestep ``t`` (the image when t == 0)."""

    index: int  # 0 .. num_steps - 1
    num_steps: int
    t: int  # the 0-based timestep the model was evaluated at
    xt: Tensor  # (B, ...) the new state x_{t_prev}: (B, C, H, W) images, (B, 2) points
    x0_pred: Tensor  # (B, ...) predicted x_0 at this step
    eps_pred: Tensor  # (B, ...) predicted noise at this step


# The per-step hook every sampler accepts (``constrain=``): called with the state x_t a step has just reached and
# the timestep t it stands at (-1 for x_0 after the last step), it returns the state to go on from. Inpainting's
# known-pixel constraint (engine/inpainting.py) is one; the sampler converts to and from its own state (VE for
# the Karras samplers) around the call, so the hook always sees the VP x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε.
Constraint = Callable[[Tensor, int], Tensor]


def next_timestep(grid: Sequence[int], index: int) -> int:
    """The timestep the state stands at after step ``index`` of ``grid``: the next grid point, or -1 (x_0)."""
    return grid[index + 1] if index + 1 < len(grid) else -1


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


def seeded_noise(seed: int, shape: Sequence[int], noise: Tensor | None = None) -> tuple[Tensor, torch.Generator]:
    """(x_T, generator) for ``seed``: x_T is the generator's first draw (on the CPU), replaced by ``noise`` when
    given -- the draw still happens, so the fresh noise z that follows is the same either way."""
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    x_T = randn(shape, generator, torch.device("cpu"))
    return (x_T if noise is None else noise), generator


def draw_x_T(seed: int, shape: Sequence[int]) -> Tensor:
    """The x_T that ``engine.sample`` starts from for ``seed`` and ``shape`` (B, C, ...), on the CPU."""
    return seeded_noise(seed, shape)[0]
