"""Gaussian and Laplacian image pyramids (Burt & Adelson 1983), as used by the sliced Wasserstein distance.

The 5×5 binomial filter w = [1, 4, 6, 4, 1]ᵀ[1, 4, 6, 4, 1] / 256 with mirror padding, like cv2.pyrDown/pyrUp
and the reference code of Karras et al. 2018 (progressive_growing_of_gans, metrics/sliced_wasserstein.py):

    G_0 = x,  G_{l+1} = down(w * G_l),  L_l = G_l - w4 * up(G_{l+1}),  L_last = G_last

where `up` inserts zeros and w4 = 4w restores the mean. Pure torch, (N, C, H, W) float tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["pyr_down", "pyr_up", "laplacian_pyramid", "pyramid_resolutions"]

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64)


def _filter(x: Tensor, gain: float) -> Tensor:
    """Depthwise 5×5 binomial filter (times `gain`) with mirror ('reflect') padding; (N, C, H, W) -> same."""
    c = x.shape[1]
    kernel = torch.outer(_BINOMIAL, _BINOMIAL) / 256.0 * gain  # (5, 5)
    weight = kernel.to(dtype=x.dtype, device=x.device).expand(c, 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), weight, groups=c)


def pyr_down(x: Tensor) -> Tensor:
    """Blur with the binomial filter, keep every second pixel: (N, C, H, W) -> (N, C, H/2, W/2)."""
    return _filter(x, 1.0)[..., ::2, ::2]


def pyr_up(x: Tensor) -> Tensor:
    """Insert zeros between pixels and filter with 4w: (N, C, H, W) -> (N, C, 2H, 2W)."""
    n, c, h, w = x.shape
    up = x.new_zeros((n, c, 2 * h, 2 * w))
    up[..., ::2, ::2] = x
    return _filter(up, 4.0)


def pyramid_resolutions(size: int, min_resolution: int) -> list[int]:
    """Side lengths of the pyramid levels, finest first: size, size/2, ... down to >= min_resolution."""
    if size < min_resolution:
        raise ValueError(f"images of {size} px are smaller than the coarsest pyramid level ({min_resolution} px)")
    sides = [size]
    while sides[-1] % 2 == 0 and sides[-1] // 2 >= min_resolution:
        sides.append(sides[-1] // 2)
    return sides


def laplacian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """[L_0, ..., L_{levels-2}, G_{levels-1}]: band-pass levels, finest first, then the low-pass residual."""
    if levels < 1:
        raise ValueError(f"a pyramid needs at least one level, got {levels}")
    bands: list[Tensor] = []
    current = x
    for _ in range(levels - 1):
        smaller = pyr_down(current)
        bands.append(current - pyr_up(smaller))
        current = smaller
    bands.append(current)
    return bands
