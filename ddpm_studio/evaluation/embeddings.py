"""Feature spaces that need no download, for k-NN metrics (precision/recall) on small images.

- `pyramid` (the default): per image, the low-pass level of a Laplacian pyramid (pyramid.py) area-pooled to
  8×8 (colour and layout, C·64 numbers) plus, for every band-pass level, the RMS of the band on a 4×4 grid
  per channel, weighted ×4 (where the edges are and how sharp: C·16 numbers per level). 288 numbers at 32 px.
- `pixels`: the image area-downsampled to 8×8 (×C), flattened: colour and layout, nothing finer.
- `random_conv`: a fixed random-weight conv net (seed RANDOM_CONV_SEED, He-normal weights, never trained):
  three 3×3 conv + ReLU stages (32/64/128 channels) at 32, 16, 8 px, each pooled to 4×4, 2×2 and 1×1.

The default, `pyramid`, was chosen by measurement: it alone sees blur and grades half-trained models below a
trained one (the table: docs/decisions.md, "Embedding for precision / recall").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ddpm_studio.evaluation.pyramid import laplacian_pyramid, pyramid_resolutions

__all__ = ["EMBEDDINGS", "EMBEDDING_DEFAULT", "RANDOM_CONV_SEED", "embed", "RandomConvNet"]

RANDOM_CONV_SEED = 20190405  # fixed forever: changing it changes every stored score
BAND_WEIGHT = 4.0  # weight of the band-pass energies against the low-pass pixels (measured, see above)
EMBED_SIDE = 32  # images are resized to 32×32 before the random conv net (its receptive fields are in px)


def pixel_features(x: Tensor) -> Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, C·8·8): area downsampling to 8×8."""
    return F.adaptive_avg_pool2d(x, 8).flatten(1)


class RandomConvNet(nn.Module):
    """Three random 3×3 conv + ReLU stages (32, 64, 128 channels), each followed by a 2× average pool."""

    def __init__(self, in_channels: int, seed: int = RANDOM_CONV_SEED, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        convs = []
        previous = 3  # 1-channel images are repeated to 3 so both kinds share one net
        for width in widths:
            conv = nn.Conv2d(previous, width, 3, padding=1)
            fan_in = previous * 9
            with torch.no_grad():  # He-normal weights, zero bias: ReLU keeps the scale
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
                conv.bias.zero_()
            convs.append(conv)
            previous = width
        self.convs = nn.ModuleList(convs)
        self.in_channels = in_channels
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, F): pooled maps of every stage at 4×4, 2×2, 1×1."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != EMBED_SIDE:
            x = F.interpolate(x, size=(EMBED_SIDE, EMBED_SIDE), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > EMBED_SIDE)
        features = []
        for conv in self.convs:
            x = F.relu(conv(x))  # (N, width, S, S)
            stage = [F.adaptive_avg_pool2d(x, s).flatten(1) for s in (4, 2, 1)]
            features.append(torch.cat(stage, dim=1) / (x.shape[1] * 21) ** 0.5)  # equal weight per stage
            x = F.avg_pool2d(x, 2)
        return torch.cat(features, dim=1)


def pyramid_features(x: Tensor) -> Tensor:
    """(N, C, H, W) -> low-pass 8×8 level (C·64) + band RMS on a 4×4 grid per level and channel (×4)."""
    sides = pyramid_resolutions(x.shape[-1], 8)
    levels = laplacian_pyramid(x, len(sides))
    parts = [F.adaptive_avg_pool2d(levels[-1], 8).flatten(1)]
    for band in levels[:-1]:
        parts.append(BAND_WEIGHT * F.adaptive_avg_pool2d(band.square(), 4).sqrt().flatten(1))
    return torch.cat(parts, dim=1)


_random_nets: dict[int, RandomConvNet] = {}


def random_conv_features(x: Tensor) -> Tensor:
    net = _random_nets.get(x.shape[1])
    if net is None:
        net = _random_nets[x.shape[1]] = RandomConvNet(x.shape[1])
    return net.to(x.device)(x)


EMBEDDINGS: dict[str, Callable[[Tensor], Tensor]] = {
    "pyramid": pyramid_features,
    "pixels": pixel_features,
    "random_conv": random_conv_features,
}
EMBEDDING_DEFAULT = "pyramid"


@torch.no_grad()
def embed(images: Tensor, name: str = EMBEDDING_DEFAULT, *, batch_size: int = 256) -> Tensor:
    """Features (N, F) float32 of images (N, C, H, W) in [-1, 1], in the named embedding, batch by batch."""
    if name not in EMBEDDINGS:
        raise ValueError(f"unknown embedding {name!r}; choose one of {', '.join(EMBEDDINGS)}")
    function = EMBEDDINGS[name]
    images = images.float()
    return torch.cat([function(images[i:i + batch_size]) for i in range(0, images.shape[0], batch_size)])
