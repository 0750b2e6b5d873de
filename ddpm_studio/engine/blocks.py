"""Convolutional building blocks of the UNet: ResNet and ConvNeXt blocks with time conditioning, resampling.

Every block takes `emb_act = SiLU(time_embedding)` (B, E), computed once per forward by the UNet, and
projects it itself. Blocks are layout-agnostic: they keep channels_last tensors channels_last.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ResnetBlock(nn.Module):
    """Pre-activation residual block with scale-shift time conditioning ("AdaGN", Dhariwal & Nichol 2021, §3).

        h = Conv(SiLU(GN(x)));  h = GN(h)·(1 + s(t)) + b(t);  out = Conv(Dropout(SiLU(h))) + skip(x)

    The second GroupNorm's affine weights are folded with (1 + s, b) into one per-(B, C) multiply-add.
    """

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, *, groups: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(groups, in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, 2 * out_ch)          # -> (scale, shift)
        self.norm2 = nn.GroupNorm(_groups(groups, out_ch), out_ch, affine=False)
        self.norm2_weight = nn.Parameter(torch.ones(out_ch))
        self.norm2_bias = nn.Parameter(torch.zeros(out_ch))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, emb_act: Tensor) -> Tensor:  # x (B, Cin, H, W), emb_act (B, E)
        h = self.conv1(F.silu(self.norm1(x)))                                  # (B, Cout, H, W)
        scale, shift = self.emb_proj(emb_act).chunk(2, dim=1)                  # (B, Cout) each
        one_plus_s = 1 + scale
        a = (self.norm2_weight * one_plus_s)[:, :, None, None]                 # γ·(1 + s)
        b = (self.norm2_bias * one_plus_s + shift)[:, :, None, None]           # β·(1 + s) + b
        h = torch.addcmul(b, self.norm2(h), a)                                 # one pass
        h = self.conv2(self.dropout(F.silu(h)))
        return h + self.skip(x)


class ConvNextBlock(nn.Module):
    """ConvNeXt block (Liu et al. 2022) as used in DDPM UNets: the time embedding is ADDED after the depthwise conv.

        h = DWConv7(x) + m(t);  h = Conv(Dropout(GN(GELU(Conv(GN(h))))));  out = h + skip(x)
    """

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, *, mult: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.dw_conv = nn.Conv2d(in_ch, in_ch, 7, padding=3, groups=in_ch)
        self.emb_proj = nn.Linear(emb_dim, in_ch)
        self.norm1 = nn.GroupNorm(1, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch * mult, 3, padding=1)
        self.norm2 = nn.GroupNorm(1, out_ch * mult)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_ch * mult, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, emb_act: Tensor) -> Tensor:  # x (B, Cin, H, W), emb_act (B, E)
        h = self.dw_conv(x) + self.emb_proj(emb_act)[:, :, None, None]         # time added, not substituted
        h = F.gelu(self.conv1(self.norm1(h)))                                  # (B, mult·Cout, H, W)
        h = self.conv2(self.dropout(self.norm2(h)))                            # (B, Cout, H, W)
        return h + self.skip(x)


class Downsample(nn.Module):
    """Halve H and W with a strided 3×3 convolution (Ho et al.'s UNet)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H/2, W/2)
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour upsampling then a 3×3 convolution."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, 2H, 2W)
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def make_block(kind: str, in_ch: int, out_ch: int, emb_dim: int, *, groups: int, dropout: float,
               convnext_mult: int) -> nn.Module:
    """A `ResnetBlock` or a `ConvNextBlock` by name."""
    if kind == "resnet":
        return ResnetBlock(in_ch, out_ch, emb_dim, groups=groups, dropout=dropout)
    if kind == "convnext":
        return ConvNextBlock(in_ch, out_ch, emb_dim, mult=convnext_mult, dropout=dropout)
    raise ValueError(f"unknown block type {kind!r}; expected 'resnet' or 'convnext'")


def _groups(groups: int, ch: int) -> int:
    """Largest group count ≤ `groups` that divides `ch` (skip concatenations give odd widths)."""
    g = min(groups, ch)
    while ch % g:
        g -= 1
    return g
