"""Image <-> tensor transforms (Pillow + numpy + torch only).

Forward, per image: convert to RGB or L -> resize so the shorter side is S -> centre crop S x S ->
uint8 (C, S, S) [`ImageTransform.prepare`, deterministic, done once and cached] -> optional random crop
to `size` and horizontal flip -> float32 x0 = u / 127.5 - 1 in [-1, 1] [`ImageTransform.augment`, cheap].
S = `size`, or ceil(9/8 * size) when `random_crop` is on. Inverse: `to_uint8` maps [-1, 1] back to
0..255 as round((x + 1) * 127.5). Ho et al. 2020 §3.3 scale data to [-1, 1] the same way.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ddpm_studio.data.decode import to_standard_mode

__all__ = [
    "ImageTransform", "to_uint8", "make_grid", "stored_size", "resize_shorter", "center_crop",
    "pil_to_uint8", "uint8_to_float", "random_crop", "random_hflip",
]

CROP_MARGIN = 9 / 8  # random_crop: resize to this multiple of the target size, then crop


def stored_size(size: int, random_crop: bool) -> int:
    """Side S of the cached square image: the target size, or slightly larger when random-cropping."""
    return int(math.ceil(size * CROP_MARGIN)) if random_crop else int(size)


def resize_shorter(img: Image.Image, side: int) -> Image.Image:
    """Resize (Lanczos, antialiased) keeping the aspect ratio so the shorter side equals `side`."""
    w, h = img.size
    if min(w, h) == side:
        return img
    scale = side / min(w, h)
    new = (max(side, round(w * scale)), max(side, round(h * scale)))
    return img.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)


def center_crop(img: Image.Image, side: int) -> Image.Image:
    """The central `side` x `side` square (the image must be at least that large)."""
    w, h = img.size
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side))


def pil_to_uint8(img: Image.Image, channels: int) -> Tensor:
    """A PIL image to a uint8 tensor (C, H, W), converting to RGB (C=3) or luma L (C=1, ITU-R 601-2)."""
    img = img.convert("RGB" if channels == 3 else "L") if img.mode != ("RGB" if channels == 3 else "L") else img
    array = np.array(img, dtype=np.uint8)  # a writable copy
    array = array[:, :, None] if array.ndim == 2 else array  # (H, W, C)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def uint8_to_float(x: Tensor) -> Tensor:
    """uint8 0..255 -> float32 in [-1, 1]: x0 = u / 127.5 - 1."""
    return x.to(torch.float32).div_(127.5).sub_(1.0)


def random_crop(x: Tensor, size: int, generator: torch.Generator | None = None) -> Tensor:
    """A uniformly placed `size` x `size` crop of (C, H, W), or a per-sample crop of (B, C, H, W)."""
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    if x.dim() == 3:
        top = int(torch.randint(0, h - size + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - size + 1, (1,), generator=generator))
        return x[:, top:top + size, left:left + size]
    b = x.shape[0]
    tops = torch.randint(0, h - size + 1, (b, 1), generator=generator) + torch.arange(size)  # (B, size)
    lefts = torch.randint(0, w - size + 1, (b, 1), generator=generator) + torch.arange(size)
    rows = torch.arange(b)[:, None, None]
    out = x[rows, :, tops[:, :, None], lefts[:, None, :]]  # (B, size, size, C)
    return out.permute(0, 3, 1, 2).contiguous()


def random_hflip(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Mirror left-right with p = 0.5: the whole (C, H, W) image, or each sample of (B, C, H, W)."""
    if x.dim() == 3:
        return x.flip(-1) if float(torch.rand((), generator=generator)) < 0.5 else x
    chosen = (torch.rand(x.shape[0], generator=generator) < 0.5).nonzero().squeeze(1)  # (K,) samples to flip
    return x.index_copy(0, chosen, x.index_select(0, chosen).flip(-1))


class ImageTransform:
    """PIL image -> float32 (C, size, size) in [-1, 1], with optional random crop and horizontal flip."""

    def __init__(self, size: int, channels: int, random_crop: bool = False, hflip: bool = False) -> None:
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.size, self.channels = int(size), int(channels)
        self.random_crop, self.hflip = bool(random_crop), bool(hflip)
        self.stored_size = stored_size(self.size, self.random_crop)

    def prepare(self, img: Image.Image) -> Tensor:
        """The deterministic part: convert, resize shorter side, centre crop -> uint8 (C, S, S)."""
        img = to_standard_mode(img)  # RGBA on white, 16-bit scaled, ... -> RGB or L
        img = center_crop(resize_shorter(img, self.stored_size), self.stored_size)
        return pil_to_uint8(img, self.channels)

    def augment(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The random part on uint8 (C, S, S) or (B, C, S, S): crop (centre unless random) + flip -> [-1, 1]."""
        if self.random_crop:
            x = random_crop(x, self.size, generator)
        elif x.shape[-1] != self.size or x.shape[-2] != self.size:
            top, left = (x.shape[-2] - self.size) // 2, (x.shape[-1] - self.size) // 2
            x = x[..., top:top + self.size, left:left + self.size]
        if self.hflip:
            x = random_hflip(x, generator)
        return uint8_to_float(x)

    def __call__(self, img: Image.Image, generator: torch.Generator | None = None) -> Tensor:
        return self.augment(self.prepare(img), generator)

    def __repr__(self) -> str:
        return (f"ImageTransform(size={self.size}, channels={self.channels}, "
                f"random_crop={self.random_crop}, hflip={self.hflip})")


def to_uint8(x: Tensor | np.ndarray) -> np.ndarray:
    """(C, H, W) or (B, C, H, W) in [-1, 1] -> (H, W, C) or (B, H, W, C) uint8, u = round((x + 1) * 127.5)."""
    t = torch.as_tensor(x).detach().to("cpu", torch.float32)
    if t.dim() not in (3, 4):
        raise ValueError(f"expected (C, H, W) or (B, C, H, W), got shape {tuple(t.shape)}")
    u = t.clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(torch.uint8)
    return np.ascontiguousarray(u.movedim(-3, -1).numpy())


def make_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile (B, H, W, C) uint8 images row-major into one (H', W', C) image with `pad` pixels around each."""
    images = np.asarray(images)
    if images.ndim == 3:  # (B, H, W) grey
        images = images[..., None]
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"expected a non-empty (B, H, W, C) array, got shape {images.shape}")
    b, h, w, c = images.shape
    ncols = max(1, min(b, ncols if ncols else math.ceil(math.sqrt(b))))
    nrows = math.ceil(b / ncols)
    grid = np.full((pad + nrows * (h + pad), pad + ncols * (w + pad), c), pad_value, dtype=images.dtype)
    for i in range(b):
        r, col = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = images[i]
    return grid
