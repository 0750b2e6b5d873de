"""Masks for inpainting: the presets both faces offer, a mask read from a PNG, and their checks.

A mask here is what a person paints: float (1, 1, H, W), 1 = the region to fill, 0 = the known pixels (the engine
takes the complement, `known = 1 - mask`). A PNG mask is white (or any non-black pixel) where to fill.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

__all__ = ["MASK_PRESETS", "preset_mask", "read_mask", "check_mask", "fit_mask"]

MASK_PRESETS: tuple[str, ...] = ("half-left", "half-right", "half-top", "half-bottom", "centre", "blocks")
MAX_MASK_BYTES = 20 << 20  # a mask PNG larger than this is refused, as image files are capped


def preset_mask(name: str, size: int, *, seed: int = 0) -> torch.Tensor:
    """The preset `name` at `size` px: a half of the image, the centre square (half the side), or random blocks
    (a quarter of the side each, about a third of the area, from `seed`)."""
    mask = torch.zeros(1, 1, size, size)
    half, quarter = size // 2, max(1, size // 4)
    if name == "half-left":
        mask[..., :half] = 1
    elif name == "half-right":
        mask[..., half:] = 1
    elif name == "half-top":
        mask[..., :half, :] = 1
    elif name == "half-bottom":
        mask[..., half:, :] = 1
    elif name == "centre":
        mask[..., quarter:quarter + half, quarter:quarter + half] = 1
    elif name == "blocks":
        rng = np.random.default_rng(seed)
        while float(mask.mean()) < 1 / 3:
            top, left = (int(v) for v in rng.integers(0, size - quarter + 1, size=2))
            mask[..., top:top + quarter, left:left + quarter] = 1
    else:
        raise ValueError(f"mask must be one of {', '.join(MASK_PRESETS)} or a PNG file, got {name!r}")
    return mask


def read_mask(path: str | Path) -> torch.Tensor:
    """A mask PNG (any size; white = fill) as (1, 1, H, W) in {0, 1}."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_MASK_BYTES:
            raise ValueError(f"mask {path.name} is larger than {MAX_MASK_BYTES >> 20} MB")
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L"), dtype=np.uint8)
    except FileNotFoundError:
        raise ValueError(f"mask {path} does not exist") from None
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ValueError(f"mask {path.name} cannot be read as an image: {exc}") from None
    return torch.from_numpy((grey > 127).astype(np.float32))[None, None]


def fit_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    """A mask of another size scaled to `size` px (nearest: it stays a 0/1 mask)."""
    return F.interpolate(mask, size=(size, size), mode="nearest")


def check_mask(mask: torch.Tensor, size: int, *, scale: bool = False) -> torch.Tensor:
    """The mask at the model's `size`, or a one-line ValueError: another size (unless `scale`), a mask that fills
    nothing, or one that fills everything (that is plain sampling)."""
    height, width = mask.shape[-2:]
    if (height, width) != (size, size):
        if not scale:
            raise ValueError(f"the mask is {width}x{height} px and the model makes {size}x{size} px images; "
                             "scale it to fit (--scale-mask in the CLI)")
        mask = fit_mask(mask, size)
    if not bool((mask > 0.5).any()):
        raise ValueError("the mask marks nothing to fill: paint the region to fill (white in a mask PNG)")
    if bool((mask > 0.5).all()):
        raise ValueError("the mask covers the whole image: nothing is known, that is plain sampling (use sample)")
    return (mask > 0.5).float()
