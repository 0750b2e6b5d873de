"""Preview grids: a few images sampled with the EMA weights from a fixed noise seed, and their PNG files.

A fixed x_T (seeded noise) makes the grids of successive epochs directly comparable: the same starting
noise, denoised by DDIM (Song et al. 2021, eq. 12 with η = 0, so deterministic) by better and better weights.

When to preview (`PreviewCadence`): every N steps, else every N epochs, else as often as keeps the previews
within a share s of the training time (time_share.py). Before the first preview its cost is estimated from the
step time: a sampler step is one forward pass of the preview batch, about a third of a training step (forward +
backward) on a batch of the same size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ddpm_studio.data.transforms import make_grid, to_uint8
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.grids import fit_steps
from ddpm_studio.engine.sampler_table import sample
from ddpm_studio.engine.sampling_common import draw_x_T
from ddpm_studio.engine.sampling_config import SamplingConfig
from ddpm_studio.training.checkpoint import atomic_write
from ddpm_studio.training.config import TrainingConfig
from ddpm_studio.training.time_share import FORWARD_SHARE_OF_STEP, TimeShareCadence


class PreviewCadence(TimeShareCadence):
    """Decides after each step whether to sample a preview grid (see the module docstring)."""

    def __init__(self, config: TrainingConfig) -> None:
        self.every_steps, self.every_epochs = config.preview_every_steps, config.preview_every_epochs
        super().__init__(config.preview_time_share if not (self.every_steps or self.every_epochs) else 0.0)
        self.sampler_steps, self.count = config.preview_sampler_steps, config.preview_count

    @property
    def enabled(self) -> bool:
        return bool(self.every_steps or self.every_epochs or self.time_share > 0)

    def estimate_cost(self, step_seconds: float, batch_size: int) -> float:
        """Seconds a preview should take, from the seconds of one training step on `batch_size` images."""
        batches = math.ceil(self.count / max(batch_size, 1))
        return self.sampler_steps * batches * FORWARD_SHARE_OF_STEP * step_seconds * min(1.0, self.count / batch_size)

    def due(self, step: int, epoch_ended: int | None, elapsed_s: float, step_seconds: float | None,
            batch_size: int) -> bool:
        """Preview after step `step`? `epoch_ended` is the 1-based epoch that just ended (None mid-epoch)."""
        if self.every_steps:
            return step % self.every_steps == 0
        if self.every_epochs:
            return epoch_ended is not None and epoch_ended % self.every_epochs == 0
        return step_seconds is not None and self.due_by_time(
            elapsed_s, lambda: self.estimate_cost(step_seconds, batch_size))


@torch.no_grad()
def sample_preview(model: torch.nn.Module, diffusion: GaussianDiffusion, *, count: int,
                   shape: tuple[int, int, int], seed: int, steps: int, device: torch.device,
                   method: str = "ddim", should_stop: Callable[[], bool] | None = None,
                   labels: tuple[int, ...] = ()) -> np.ndarray | None:
    """`count` samples of `shape` = (C, H, W) by `method` (a sampler-table row; η = 0, x_0 clipped) from the
    x_T of `seed` (`engine.draw_x_T`, as `engine.sample` draws it): (N, H, W, C) uint8. The training previews
    use Euler on Karras' grid, which at 12 steps scored like DDIM at 25 on the demo model.

    `steps` is clamped to T on purpose (`grids.fit_steps`): a preview of a tiny-T model still shows something.
    The process's global RNG is left untouched (the sampler only uses the seeded generator). `should_stop` is
    asked after every sampler step; when it answers True the preview is abandoned and None is returned, so a
    stop request waits for at most one denoising step. `labels`: the class of each image (`preview_labels`) for
    a class-conditional model, sampled unguided (w = 1); () asks for none.
    """
    noise = draw_x_T(seed, (count, *shape))  # x_T, (N, C, H, W)
    was_training = model.training
    model.eval()
    last = None
    try:
        with torch.random.fork_rng(devices=[]):
            config = SamplingConfig(method=method, steps=fit_steps(steps, diffusion.num_timesteps), eta=0.0,
                                    seed=seed, count=count, labels=labels)
            for last in sample(model, diffusion, noise.shape, config, noise=noise.to(device), device=device):  # noqa: B007
                if should_stop is not None and should_stop():
                    return None
    finally:
        model.train(was_training)
    assert last is not None
    return to_uint8(last.xt.float())


def preview_labels(count: int, num_classes: int) -> tuple[int, ...]:
    """The classes the previews of a conditional model ask for: image i asks class i mod K, so every class shows
    in a grid of at least K images and the grid's columns line up with the classes when K divides its width;
    () for an unconditional model (K = 0)."""
    return tuple(i % num_classes for i in range(count)) if num_classes > 0 else ()


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
