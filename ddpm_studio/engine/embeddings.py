"""Time conditioning: the sinusoidal embedding of t (Vaswani et al. 2017, §3.5; Ho et al. 2020, App. B) and its MLP."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Embed timesteps t (B,) as [sin(t·ω_k), cos(t·ω_k)], ω_k = max_period^(-k/(dim/2)); returns (B, dim) float32.

    `t` may be integer or fractional (DDIM sub-sequences, continuous time). An odd `dim` is zero-padded.
    """
    if t.ndim != 1:
        raise ValueError(f"timesteps must be a 1-D tensor (B,), got shape {tuple(t.shape)}")
    half = dim // 2
    k = torch.arange(half, device=t.device, dtype=torch.float32)
    freqs = torch.exp(-math.log(max_period) * k / half)                 # (half,)
    angles = t.to(torch.float32)[:, None] * freqs[None, :]               # (B, half)
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)      # (B, 2*half)
    if dim % 2:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


class SinusoidalPositionEmbedding(nn.Module):
    """Module wrapper of `sinusoidal_embedding` (no parameters)."""

    def __init__(self, dim: int, max_period: float = 10000.0) -> None:
        super().__init__()
        self.dim = dim
        self.max_period = max_period

    def forward(self, t: Tensor) -> Tensor:  # (B,) -> (B, dim)
        return sinusoidal_embedding(t, self.dim, self.max_period)


class TimeEmbedding(nn.Module):
    """t ↦ MLP(sinusoid(t)): Linear(base, 4·base) → SiLU → Linear(4·base, 4·base), as in Ho et al.'s UNet."""

    def __init__(self, base_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.sinusoid = SinusoidalPositionEmbedding(base_dim)
        self.mlp = nn.Sequential(nn.Linear(base_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))

    def forward(self, t: Tensor) -> Tensor:  # (B,) -> (B, embed_dim)
        return self.mlp(self.sinusoid(t))
