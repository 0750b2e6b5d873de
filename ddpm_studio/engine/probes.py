"""Probes of what a model knows: noise an image to t and back (SDEdit), DDIM inversion, slerp of latents.

- SDEdit, Meng et al. 2022 ("SDEdit: Guided Image Synthesis and Editing with Stochastic Differential
  Equations"), Sec. 3: x_t ~ q(x_t | x_0) by the forward process (Ho et al. eq. 4), then the reverse process
  from t. Small t keeps the image; large t keeps only its coarse layout, then nothing.
- DDIM inversion (Song et al. 2021, Sec. 4.3 / eq. 13 run forwards): x_0 -> x_T -> x_0 with its error.
- Spherical interpolation (Shoemake 1985; used for latents by Song et al. 2021, Sec. 5.3) keeps Gaussian
  latents at a typical norm, where linear interpolation would pass through low-norm, washed-out ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ddpm_studio.engine.diffusion import GaussianDiffusion, Model
from ddpm_studio.engine.forward import q_sample
from ddpm_studio.engine.grids import ddim_timesteps, fit_steps
from ddpm_studio.engine.sampler_table import SAMPLERS
from ddpm_studio.engine.samplers import ddim_invert, ddim_sample
from ddpm_studio.engine.sampling_common import SamplerStep, randn

__all__ = ["SDEditResult", "InversionResult", "sdedit", "sdedit_sweep", "invert_and_reconstruct", "slerp"]


@dataclass(frozen=True)
class SDEditResult:
    """One t of the noise-to-t-and-back probe."""

    t_start: int  # 0-based timestep the images were noised to
    noised: Tensor  # (B, C, H, W) x_t
    reconstruction: Tensor  # (B, C, H, W) the reverse process's x_0
    mse: Tensor  # (B,) mean squared error against the input images


@dataclass(frozen=True)
class InversionResult:
    """DDIM inversion x_0 -> x_T and the reconstruction x_T -> x̂_0."""

    latent: Tensor  # (B, C, H, W) x_T
    reconstruction: Tensor  # (B, C, H, W)
    mse: Tensor  # (B,)


def _mse(a: Tensor, b: Tensor) -> Tensor:
    return (a.float() - b.float()).pow(2).flatten(1).mean(1)


@torch.no_grad()
def sdedit(
    model: Model, diffusion: GaussianDiffusion, x0: Tensor, t_start: int, *, method: str = "ddim",
    steps: int = 20, noise: Tensor | None = None, generator: torch.Generator | None = None, clip_x0: bool = True,
) -> Iterator[SamplerStep]:
    """SDEdit, Meng et al. 2022 Alg. 1: x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, then the reverse process of ``method`` (any
    row of the sampler table) from t_start to 0 on that sampler's own grid over 0..t_start, with ``steps`` points
    or as many as fit (``grids.fit_steps``: t_start + 1; DDPM walks them all). ε is ``noise`` or drawn from
    ``generator``; stochastic samplers also draw their fresh noise from ``generator``."""
    spec = SAMPLERS.lookup(method)
    if isinstance(t_start, bool) or not isinstance(t_start, int) or not 0 <= t_start < diffusion.num_timesteps:
        raise ValueError(f"t_start must be an integer in 0..{diffusion.num_timesteps - 1}, got {t_start!r}")
    x0 = x0.to(torch.float32)
    eps = randn(x0.shape, generator, x0.device) if noise is None else noise.to(x0.device, torch.float32)
    t = torch.full((x0.shape[0],), t_start, dtype=torch.long, device=x0.device)
    xt = q_sample(diffusion.schedule_for(x0), x0, t, eps).to(torch.float32)
    return spec.run(model, diffusion, x0.shape, steps=fit_steps(steps, t_start + 1), t_max=t_start, noise=xt,
                    generator=generator, clip_x0=clip_x0, device=x0.device)


def sdedit_sweep(
    model: Model, diffusion: GaussianDiffusion, x0: Tensor, t_values: Sequence[int], *, method: str = "ddim",
    steps: int = 20, noise: Tensor | None = None, generator: torch.Generator | None = None, clip_x0: bool = True,
) -> list[SDEditResult]:
    """:func:`sdedit` at each t with one shared ε (the noising slider's convention), and the error against
    x_0 per image: the reconstruction-error-vs-t curve and the grid over a row of t."""
    eps = randn(x0.shape, generator, x0.device) if noise is None else noise
    results = []
    for t_start in t_values:
        run = list(sdedit(model, diffusion, x0, t_start, method=method, steps=steps, noise=eps,
                          generator=generator, clip_x0=clip_x0))
        t = torch.full((x0.shape[0],), t_start, dtype=torch.long, device=x0.device)
        noised = q_sample(diffusion.schedule_for(x0), x0.float(), t, eps.to(x0.device).float()).float()
        results.append(SDEditResult(t_start, noised, run[-1].xt, _mse(run[-1].xt, x0)))
    return results


@torch.no_grad()
def invert_and_reconstruct(
    model: Model, diffusion: GaussianDiffusion, x0: Tensor, *, steps: int = 50
) -> InversionResult:
    """DDIM inversion of x_0 to x_T (``ddim_invert``) and back with deterministic DDIM on the same grid."""
    latent = list(ddim_invert(model, diffusion, x0, steps=steps))[-1].xt
    grid = ddim_timesteps(diffusion.num_timesteps, steps)
    back = list(ddim_sample(model, diffusion, x0.shape, timesteps=grid, eta=0.0, noise=latent, clip_x0=False,
                            device=x0.device))[-1].xt
    return InversionResult(latent, back, _mse(back, x0))


def slerp(z0: Tensor, z1: Tensor, alpha: float) -> Tensor:
    """Spherical interpolation per sample (dims after the batch flattened), Shoemake 1985:
    sin((1-α)θ)/sin θ · z0 + sin(αθ)/sin θ · z1 with cos θ = ⟨z0, z1⟩/(|z0||z1|); linear when θ ≈ 0."""
    if z0.shape != z1.shape:
        raise ValueError(f"z0 has shape {tuple(z0.shape)} but z1 has shape {tuple(z1.shape)}")
    a, b = z0.flatten(1).double(), z1.flatten(1).double()
    cos = ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-30)).clamp(-1.0, 1.0)
    theta = torch.arccos(cos).unsqueeze(1)
    small = theta < 1e-4
    sin = torch.sin(theta).where(~small, torch.ones_like(theta))
    w0 = torch.where(small, 1.0 - alpha, torch.sin((1.0 - alpha) * theta) / sin)
    w1 = torch.where(small, torch.full_like(theta, alpha), torch.sin(alpha * theta) / sin)
    return (w0 * a + w1 * b).reshape(z0.shape).to(z0.dtype)
