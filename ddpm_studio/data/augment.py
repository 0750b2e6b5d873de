"""Non-leaky augmentation (Karras et al. 2022, "Elucidating the design space of diffusion-based generative
models", EDM, App. C / `training/augment.py` of its code): each training image is augmented with probability p
per operation, and the operation's parameters go to the network as a conditioning vector, so the network learns
the augmented images *as augmented*; sampling passes the zero vector ("no augmentation") and the samples show
none of them (no mirrored or rotated digits, no colour shifts). EDM's small-set configs use p = 0.12-0.15.

The operations, EDM's set cut to what is cheap on a CPU (one name each; `AUGMENT_OPS` order = the draw order):

    xflip       mirror left-right                    vector[0]    = 1 if mirrored
    yflip       mirror top-bottom                    vector[1]    = 1 if mirrored
    rotate90    rotate by k·90°, k ∈ {1, 2, 3}       vector[2, 3] = ([k ∈ {1,2}], [k ∈ {2,3}])   (EDM's encoding)
    translate   integer shift by up to 1/8 of a side vector[4, 5] = (tx / (W/8), ty / (H/8)) ∈ [-1, 1]
    scale       isotropic zoom s = 2^(0.2 w)         vector[6]    = w ~ N(0, 1)
    brightness  x + 0.2 w                            vector[7]    = w ~ N(0, 1)
    contrast    x · 2^(0.5 w)                        vector[8]    = w ~ N(0, 1)
    saturation  chroma · 2^(1 w) about the grey axis vector[9]    = w ~ N(0, 1)        (3 channels only)

Left out of EDM's set (cost or little use at 16-64 px): fractional rotation, anisotropic scaling, fractional
translation, luma flip and hue rotation. As in EDM, a flip's or a rotation's draw may be "none" (k = 0) even when
the operation fires; every entry of the vector is zero exactly when its operation left the image as it was
(the continuous draws are zero with probability 0), so the zero vector means "no augmentation".

Skipped, with a zero entry, where an operation makes no sense: rotate90 on a non-square image, saturation on a
one-channel image; translate moves nothing on a side under 5 pixels (1/8 of it rounds to 0). An image
narrower or lower than 2 pixels is refused (ValueError). All draws come from the `generator` passed in, in a
fixed order and amount per batch, so the same generator state gives the same batch and vector.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["AUGMENT_DIM", "AUGMENT_OPS", "PADDINGS", "Augmented", "augment", "describe"]

AUGMENT_OPS: tuple[str, ...] = ("xflip", "yflip", "rotate90", "translate", "scale", "brightness", "contrast",
                                "saturation")
_SLOTS: dict[str, slice] = {"xflip": slice(0, 1), "yflip": slice(1, 2), "rotate90": slice(2, 4),
                            "translate": slice(4, 6), "scale": slice(6, 7), "brightness": slice(7, 8),
                            "contrast": slice(8, 9), "saturation": slice(9, 10)}
AUGMENT_DIM = 10  # length of the conditioning vector (UNetConfig.augment_dim of an augmented run)
PADDINGS: tuple[str, ...] = ("reflect", "wrap")  # how translate fills the pixels it uncovers (EDM: reflect)
TRANSLATE_MAX = 0.125  # EDM translate_int_max: shifts up to 1/8 of the side
SCALE_STD, BRIGHTNESS_STD, CONTRAST_STD, SATURATION_STD = 0.2, 0.2, 0.5, 1.0  # EDM's AugmentPipe defaults
MIN_SIDE = 2


class Augmented(NamedTuple):
    """An augmented batch and its conditioning vectors."""

    x: Tensor  # (B, C, H, W) augmented images
    labels: Tensor  # (B, AUGMENT_DIM) float32 parameters; a zero row = that image was not augmented


def augment(x: Tensor, p: float, generator: torch.Generator | None = None, *, ops: tuple[str, ...] = AUGMENT_OPS,
            padding: str = "reflect") -> Augmented:
    """Augment each image of `x` (B, C, H, W), C ∈ {1, 3}, with each of `ops` independently with probability `p`.

    Returns the images and the (B, AUGMENT_DIM) vector described in the module docstring (zeros where nothing
    was applied). p = 0 returns `x` itself with zero vectors and draws nothing.
    """
    _check(x, p, ops, padding)
    b, _, h, w = x.shape
    labels = torch.zeros((b, AUGMENT_DIM), dtype=torch.float32)
    if p == 0.0:
        return Augmented(x, labels.to(x.device))
    draws = _draw(b, p, generator)  # fixed order and amount: the stream does not depend on ops or the image size
    out = x
    if "xflip" in ops:
        flip = draws["xflip"]  # (B,) 0/1
        out = torch.where(_mask(flip, out), out.flip(3), out)
        labels[:, 0] = flip
    if "yflip" in ops:
        flip = draws["yflip"]
        out = torch.where(_mask(flip, out), out.flip(2), out)
        labels[:, 1] = flip
    if "rotate90" in ops and h == w:
        k = draws["rotate90"]  # (B,) in 0..3
        for turns in (1, 2, 3):
            out = torch.where(_mask(k == turns, out), out.rot90(turns, (2, 3)), out)
        labels[:, 2], labels[:, 3] = ((k == 1) | (k == 2)).float(), ((k == 2) | (k == 3)).float()
    if "translate" in ops:
        u = draws["translate"]  # (B, 2) in [-1, 1], zero where not drawn
        tx, ty = (u[:, 0] * w * TRANSLATE_MAX).round().long(), (u[:, 1] * h * TRANSLATE_MAX).round().long()
        if bool((tx != 0).any() or (ty != 0).any()):
            out = _translate(out, tx, ty, padding)
        labels[:, 4], labels[:, 5] = tx / (w * TRANSLATE_MAX), ty / (h * TRANSLATE_MAX)
    if "scale" in ops:
        out = _scale(out, torch.exp2(draws["scale"] * SCALE_STD))
        labels[:, 6] = draws["scale"]
    if "brightness" in ops:
        out = out + _factor(draws["brightness"] * BRIGHTNESS_STD, out)
        labels[:, 7] = draws["brightness"]
    if "contrast" in ops:
        out = out * _factor(torch.exp2(draws["contrast"] * CONTRAST_STD), out)
        labels[:, 8] = draws["contrast"]
    if "saturation" in ops and x.shape[1] == 3:
        grey = out.mean(dim=1, keepdim=True)  # projection on the grey axis (1, 1, 1)/√3, as in EDM
        s = _factor(torch.exp2(draws["saturation"] * SATURATION_STD), out)
        out = torch.where(_mask(draws["saturation"], out), grey + (out - grey) * s, out)  # exact where s = 1
        labels[:, 9] = draws["saturation"]
    return Augmented(out, labels.to(x.device))


def describe(labels: Tensor) -> list[tuple[str, ...]]:
    """The operations each row of an augmentation vector (B, AUGMENT_DIM) records as applied (for views)."""
    return [tuple(op for op in AUGMENT_OPS if bool(row[_SLOTS[op]].ne(0).any())) for row in labels]


def _check(x: Tensor, p: float, ops: tuple[str, ...], padding: str) -> None:
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"augmentation takes images (B, 1 or 3, H, W), got shape {tuple(x.shape)}")
    if min(x.shape[-2:]) < MIN_SIDE:
        raise ValueError(f"augmentation needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels, "
                         f"got {x.shape[-1]}x{x.shape[-2]}")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"augmentation probability must be in [0, 1], got {p!r}")
    unknown = [op for op in ops if op not in AUGMENT_OPS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r} (choose from {', '.join(AUGMENT_OPS)})")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")


def _draw(b: int, p: float, generator: torch.Generator | None) -> dict[str, Tensor]:
    """Every op's parameters for `b` images, each zeroed unless its own U(0,1) < p (EDM: w = where(u < p, w, 0))."""
    def gate(values: Tensor) -> Tensor:
        fires = (torch.rand(b, generator=generator) < p).view(b, *([1] * (values.ndim - 1)))
        return torch.where(fires, values, torch.zeros_like(values))

    return {"xflip": gate(torch.randint(0, 2, (b,), generator=generator).float()),
            "yflip": gate(torch.randint(0, 2, (b,), generator=generator).float()),
            "rotate90": gate(torch.randint(0, 4, (b,), generator=generator).float()).long(),
            "translate": gate(torch.rand((b, 2), generator=generator) * 2 - 1),
            "scale": gate(torch.randn(b, generator=generator)),
            "brightness": gate(torch.randn(b, generator=generator)),
            "contrast": gate(torch.randn(b, generator=generator)),
            "saturation": gate(torch.randn(b, generator=generator))}


def _mask(values: Tensor, like: Tensor) -> Tensor:
    """(B,) -> a (B, 1, 1, 1) boolean mask on `like`'s device: where the value is non-zero."""
    return (values != 0).view(-1, 1, 1, 1).to(like.device)


def _factor(values: Tensor, like: Tensor) -> Tensor:
    """(B,) -> (B, 1, 1, 1) in `like`'s dtype and device, to broadcast over an image batch."""
    return values.view(-1, 1, 1, 1).to(like.device, like.dtype)


def _translate(x: Tensor, tx: Tensor, ty: Tensor, padding: str) -> Tensor:
    """Shift image b by (tx_b, ty_b) pixels; uncovered pixels are mirrored (reflect, no edge repeat) or wrapped."""
    b, _, h, w = x.shape
    cols = torch.arange(w).view(1, w) - tx.view(b, 1)  # (B, W) source column of each output column
    rows = torch.arange(h).view(1, h) - ty.view(b, 1)  # (B, H)
    if padding == "wrap":
        cols, rows = cols % w, rows % h
    else:  # EDM: x = W - 1 - |W - 1 - (x mod (2W - 2))|, a reflection without repeating the edge pixel
        cols = (w - 1) - ((w - 1) - cols % (2 * w - 2)).abs()
        rows = (h - 1) - ((h - 1) - rows % (2 * h - 2)).abs()
    cols, rows = cols.to(x.device), rows.to(x.device)
    index = torch.arange(b, device=x.device).view(b, 1, 1)
    out = x.permute(0, 2, 3, 1)[index, rows.view(b, h, 1), cols.view(b, 1, w)]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous(memory_format=torch.contiguous_format)


def _scale(x: Tensor, s: Tensor) -> Tensor:
    """Zoom image b by s_b about its centre (bilinear, reflected at the border); s_b = 1 leaves it untouched."""
    chosen = (s != 1).nonzero().squeeze(1)  # (K,) images that change
    if chosen.numel() == 0:
        return x
    inv = (1.0 / s[chosen]).to(torch.float32)
    theta = torch.zeros((chosen.numel(), 2, 3), dtype=torch.float32)
    theta[:, 0, 0], theta[:, 1, 1] = inv, inv  # output pixel at u samples the input at u / s
    sub = x.index_select(0, chosen.to(x.device)).float()
    grid = F.affine_grid(theta.to(x.device), list(sub.shape), align_corners=False)
    zoomed = F.grid_sample(sub, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return x.index_copy(0, chosen.to(x.device), zoomed.to(x.dtype))
