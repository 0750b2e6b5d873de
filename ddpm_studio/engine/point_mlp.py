"""A small time-conditioned MLP denoiser for points: the 2-D lab's network, called as ``model(x_t, t)`` like the UNet.

x_t is (B, D) (D = 2 for the lab); the output is (B, D), or (B, 2D) with a learned variance, read by
``GaussianDiffusion`` according to the objective (ε, x_0 or v) exactly as the UNet's output is. The time
embedding is the UNet's (``embeddings.TimeEmbedding``: sinusoid of t, then an MLP); each residual block adds
it to its input (Ho et al.'s ResBlock without convolutions, as in the EDM2 and smalldiffusion toy models).

Class conditioning follows the UNet's convention exactly (engine/unet.py): with ``num_classes`` = K > 0 a learned
class embedding of K + 1 rows is added to the time embedding (Ho & Salimans 2022), row K being "no class" (∅);
it is called ``model(x_t, t, y)`` with y (B,) in 0..K, or ``model(x_t, t)`` (every row ∅), so
``engine.guidance`` (CFG, autoguidance, ``Conditioned``) drives it as it drives the UNet. With K = 0 nothing is
added: the parameters, their initialisation and the outputs are those of the unconditional network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ddpm_studio.engine.config import _int_at_least
from ddpm_studio.engine.embeddings import TimeEmbedding
from ddpm_studio.typed_config import load_config

__all__ = ["PointMLP", "PointMLPConfig", "build_point_mlp"]


@dataclass
class PointMLPConfig:
    """The point denoiser's size."""

    dim: int = 2  # D: coordinates per point
    width: int = 64  # hidden units of every layer
    blocks: int = 3  # residual blocks
    time_dim: int = 32  # sinusoid size of the time embedding (its MLP has `width` units)
    learned_variance: bool = False  # output 2D numbers (Improved DDPM eq. 15); must match DiffusionConfig's
    num_classes: int = 0  # class-conditional with this many classes (+1 "no class"); 0 = not (as UNetConfig)

    def validate(self) -> None:
        """Raise ValueError with a one-line reason if any field is out of range."""
        _int_at_least("dim", self.dim, 1)
        _int_at_least("width", self.width, 2)
        _int_at_least("blocks", self.blocks, 1)
        _int_at_least("time_dim", self.time_dim, 2)
        if not isinstance(self.learned_variance, bool):
            raise ValueError(f"learned_variance must be a bool, got {self.learned_variance!r}")
        _int_at_least("num_classes", self.num_classes, 0)
        if self.num_classes > 100_000:
            raise ValueError(f"num_classes must be at most 100000, got {self.num_classes}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> PointMLPConfig:
        return load_config(cls, data, source=source)


class _ResidualBlock(nn.Module):
    """h + Linear(SiLU(Linear(SiLU(LayerNorm(h)) + emb))): a ResBlock whose convolutions are linear layers."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.emb = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.act = nn.SiLU()

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:  # (B, W), (B, W) -> (B, W)
        z = self.fc1(self.act(self.norm(h))) + self.emb(emb)
        return h + self.fc2(self.act(z))


class PointMLP(nn.Module):
    """ε_θ(x_t, t) (or x̂_0 / v̂) for (B, D) points."""

    def __init__(self, config: PointMLPConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.time_embed = TimeEmbedding(config.time_dim, config.width)
        self.inp = nn.Linear(config.dim, config.width)
        self.blocks = nn.ModuleList(_ResidualBlock(config.width) for _ in range(config.blocks))
        self.out_norm = nn.LayerNorm(config.width)
        out_dim = 2 * config.dim if config.learned_variance else config.dim
        self.out = nn.Linear(config.width, out_dim)
        # made last so the other layers' initial weights are those of the unconditional network (as in the UNet)
        self.class_embed = nn.Embedding(config.num_classes + 1, config.width) if config.num_classes else None

    @property
    def num_classes(self) -> int:
        """K: classes the network is conditioned on (0: unconditional); label K is "no class"."""
        return self.config.num_classes

    def _embedding(self, t: Tensor, y: Tensor | None) -> Tensor:
        """Time embedding [+ class embedding] (B, W); y None on a conditional net means ∅ for every row."""
        emb = self.time_embed(t)
        if self.class_embed is not None:
            if y is None:
                y = torch.full((t.shape[0],), self.num_classes, dtype=torch.long, device=t.device)
            emb = emb + self.class_embed(y.to(device=t.device, dtype=torch.long))
        elif y is not None:
            raise ValueError("this model is unconditional: it takes no class labels")
        return emb

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:  # (B, D), (B,), (B,) -> (B, D|2D)
        if x.ndim != 2 or x.shape[1] != self.config.dim:
            raise ValueError(f"PointMLP expects (B, {self.config.dim}) points, got shape {tuple(x.shape)}")
        if y is not None and (y.shape != t.shape or y.dtype.is_floating_point):
            raise ValueError(f"expected integer class labels y of shape ({x.shape[0]},), got {tuple(y.shape)}")
        emb = self._embedding(t, y)  # (B, W)
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(nn.functional.silu(self.out_norm(h)))


def build_point_mlp(config: PointMLPConfig) -> PointMLP:
    return PointMLP(config)
