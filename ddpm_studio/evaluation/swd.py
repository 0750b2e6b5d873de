"""Multi-scale sliced Wasserstein distance (SWD), Karras et al. 2018 ("Progressive Growing of GANs"), §5 and
appendix D.

1. Each image becomes a Laplacian pyramid (pyramid.py); the paper's levels run from 1024² down to 16².
2. At every level, 7×7 neighbourhoods ("descriptors", 7·7·C numbers) are taken at random positions.
3. Each set's descriptors are normalised per channel to zero mean and unit standard deviation (over all its
   descriptors and the 7×7 positions), as in the paper's reference code.
4. SWD between the two descriptor sets: project both on random unit directions, sort each projection and
   average |sorted_a - sorted_b| (the 1-D Wasserstein-1 distance between equal-size empirical sets);
   128 directions per repeat, 4 repeats, averaged. The paper reports the numbers ×10³.

Our images are 16–64 px, so the levels run from the full size down to 8×8 (`min_resolution`): the 8×8
low-pass level (a 7×7 neighbourhood covers nearly all of it) measures layout and colour, the coarse
failure of an undertrained model; each finer band measures edges and texture at its scale.
32 px images give levels 32, 16, 8; 64 px give 64, 32, 16, 8; 16 px give 16, 8.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ddpm_studio.evaluation.pyramid import laplacian_pyramid, pyramid_resolutions
from ddpm_studio.evaluation.uncertainty import BOOTSTRAP_DIRECTIONS, BOOTSTRAP_SEED, resample_rows, standard_error

__all__ = ["SWDResult", "sliced_wasserstein", "sliced_wasserstein_distance", "level_descriptors",
           "NEIGHBOURHOOD"]

NEIGHBOURHOOD = 7  # side of the neighbourhoods (appendix D)


@dataclass(frozen=True)
class SWDResult:
    """SWD per pyramid level (keyed by the level's side in pixels, finest first) and their mean."""

    per_level: dict[int, float]
    mean: float
    errors: dict[int, float] = field(default_factory=dict)  # bootstrap standard error per level (none: {})
    error: float | None = None  # bootstrap standard error of `mean`


def level_descriptors(level: Tensor, count_per_image: int, generator: torch.Generator) -> Tensor:
    """`count_per_image` random 7×7 neighbourhoods of each image of one level, per-channel normalised.

    level: (N, C, H, W) -> (N * count_per_image, C * 7 * 7).
    """
    n, c, h, w = level.shape
    side = min(NEIGHBOURHOOD, h, w)
    ys = torch.randint(0, h - side + 1, (n, count_per_image, 1, 1, 1), generator=generator)
    xs = torch.randint(0, w - side + 1, (n, count_per_image, 1, 1, 1), generator=generator)
    offsets = torch.arange(side)
    image = torch.arange(n).view(n, 1, 1, 1, 1) * (c * h * w)
    channel = torch.arange(c).view(1, 1, c, 1, 1) * (h * w)
    rows = (ys + offsets.view(1, 1, 1, side, 1)) * w
    cols = xs + offsets.view(1, 1, 1, 1, side)
    flat = (image + channel + rows + cols).reshape(n * count_per_image, c, side, side)  # one flat gather
    patches = level.contiguous().reshape(-1)[flat]  # (M, C, side, side)
    var, mean = torch.var_mean(patches, dim=(0, 2, 3), keepdim=True)  # step 3: per channel
    patches = (patches - mean) / var.sqrt().clamp_min(1e-8)
    return patches.reshape(n * count_per_image, c * side * side)


def sliced_wasserstein(a: Tensor, b: Tensor, generator: torch.Generator, *, directions: int = 128,
                       repeats: int = 4) -> float:
    """Mean over random unit directions of W1 between the projections of two equal-size sets (step 4)."""
    if a.shape != b.shape:
        raise ValueError(f"descriptor sets must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    results = []
    for _ in range(repeats):
        dirs = torch.randn(a.shape[1], directions, generator=generator, dtype=a.dtype)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)  # (D, directions), unit columns
        proj_a = _sorted_rows(dirs.T @ a.T)  # (directions, M), contiguous rows
        proj_b = _sorted_rows(dirs.T @ b.T)
        results.append(float(np.abs(proj_a - proj_b).mean()))
    return float(np.mean(results))


def _sorted_rows(x: Tensor) -> np.ndarray:
    """Each row sorted; numpy's vectorised sort is ~25x faster than torch.sort on CPU (2026, torch 2.13)."""
    return np.sort(x.detach().cpu().numpy(), axis=1)


def sliced_wasserstein_distance(x: Tensor, y: Tensor, *, generator: torch.Generator,
                                descriptors_per_image: int = 32, directions: int = 128, repeats: int = 4,
                                min_resolution: int = 8, bootstraps: int = 0,
                                bootstrap_directions: int = BOOTSTRAP_DIRECTIONS) -> SWDResult:
    """Multi-scale SWD between image sets x and y, (N, C, H, W) and (M, C, H, W), values in [-1, 1].

    Both sets contribute the same number of descriptors per level: min(N, M) * descriptors_per_image, taken
    from a random subset of the larger set. `bootstraps` > 0 adds the bootstrap standard error
    (uncertainty.py): the images of both sets resampled with replacement, their already projected descriptors
    on the first `bootstrap_directions` directions sorted again; the value itself is unchanged.
    """
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(f"image shapes differ: {tuple(x.shape[1:])} vs {tuple(y.shape[1:])}")
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"images must be square, got {tuple(x.shape[-2:])}")
    sides = pyramid_resolutions(x.shape[-1], min_resolution)
    count = min(x.shape[0], y.shape[0])
    x = _subset(x.float(), count, generator)
    y = _subset(y.float(), count, generator)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    per_level: dict[int, float] = {}
    replicates: dict[int, np.ndarray] = {}
    for side, level_x, level_y in zip(sides, laplacian_pyramid(x, len(sides)), laplacian_pyramid(y, len(sides))):
        desc_x = level_descriptors(level_x, descriptors_per_image, generator)
        desc_y = level_descriptors(level_y, descriptors_per_image, generator)
        kept: tuple[np.ndarray, np.ndarray] | None = None
        results = []
        for _ in range(repeats):  # step 4, as sliced_wasserstein, keeping the projections for the bootstrap
            dirs = torch.randn(desc_x.shape[1], directions, generator=generator, dtype=desc_x.dtype)
            dirs = dirs / dirs.norm(dim=0, keepdim=True)
            proj_x, proj_y = (dirs.T @ desc_x.T).numpy(), (dirs.T @ desc_y.T).numpy()
            results.append(float(np.abs(np.sort(proj_x, axis=1) - np.sort(proj_y, axis=1)).mean()))
            if bootstraps and kept is None:
                kept = (proj_x[:bootstrap_directions], proj_y[:bootstrap_directions])
        per_level[side] = float(np.mean(results))
        if kept is not None:
            proj_x, proj_y = kept
            replicates[side] = np.array([
                np.abs(np.sort(proj_x[:, resample_rows(rng, count, descriptors_per_image)], axis=1)
                       - np.sort(proj_y[:, resample_rows(rng, count, descriptors_per_image)], axis=1)).mean()
                for _ in range(bootstraps)])
    mean = sum(per_level.values()) / len(per_level)
    if not bootstraps:
        return SWDResult(per_level=per_level, mean=mean)
    errors = {side: standard_error(r) for side, r in replicates.items()}
    error = standard_error(np.mean(np.stack(list(replicates.values())), axis=0))
    return SWDResult(per_level=per_level, mean=mean, errors=errors, error=error)


def _subset(images: Tensor, count: int, generator: torch.Generator) -> Tensor:
    if images.shape[0] == count:
        return images
    return images[torch.randperm(images.shape[0], generator=generator)[:count]]
