"""Preview grids: a few images sampled with the EMA weights from a fixed noise seed, and their PNG files.

A fixed x_T (seeded noise) makes the grids of successive epochs directly comparable: the same starting
noise, denoised by DDIM (Song et al. 2021, eq. 12 with η = 0, so deterministic) by better and better weights.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ddpm_studio.data.transforms import make_grid, to_uint8
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.samplers import ddim_sample
from ddpm_studio.training.checkpoint import atomic_write


@torch.no_grad()
def sample_preview(model: torch.nn.Module, diffusion: GaussianDiffusion, *, count: int,
                   shape: tuple[int, int, int], seed: int, steps: int, device: torch.device,
                   sampler: Callable = ddim_sample,
                   should_stop: Callable[[], bool] | None = None) -> np.ndarray | None:
    """`count` DDIM samples (η = 0) of `shape` = (C, H, W) from noise seeded by `seed`: (N, H, W, C) uint8.

    The process's global RNG is left untouched (the sampler only uses the seeded generator). `should_stop` is
    asked after every sampler step; when it answers True the preview is abandoned and None is returned, so a
    stop request waits for at most one denoising step.
    """
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((count, *shape), generator=generator)  # x_T, (N, C, H, W)
    was_training = model.training
    model.eval()
    last = None
    try:
        with torch.random.fork_rng(devices=[]):
            steps = max(1, min(steps, diffusion.num_timesteps))
            for last in sampler(model, diffusion, noise.shape, steps=steps, eta=0.0, noise=noise.to(device),  # noqa: B007
                                generator=generator, device=device):
                if should_stop is not None and should_stop():
                    return None
    finally:
        model.train(was_training)
    assert last is not None
    return to_uint8(last.xt.float())


def grid_image(images: np.ndarray, ncols: int | None = None) -> Image.Image:
    """(N, H, W, C) uint8 -> one PIL image tiled row-major (grey for C = 1)."""
    grid = make_grid(images, ncols=ncols)
    return Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)


def save_preview_png(images: np.ndarray, path: Path, ncols: int | None = None) -> Path:
    """Write the grid of `images` to `path` atomically (PNG)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = grid_image(images, ncols)
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))
    return path
