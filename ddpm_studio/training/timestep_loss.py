"""Loss by timestep: a running mean of the per-sample loss in ~10 buckets of t, for the "loss vs t" plot.

With ε-prediction the per-sample L_simple (Ho et al. eq. 14) is largest at small t, where x_t is mostly
x_0 and the little noise in it is hard to tell apart; the curve shows where the network still struggles.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class TimestepLossTracker:
    """Exponential running mean (factor `momentum` per batch) of the loss in each bucket of t."""

    def __init__(self, timesteps: int, buckets: int = 10, momentum: float = 0.9) -> None:
        n = max(1, min(buckets, timesteps))
        edges = sorted({round(i * timesteps / n) for i in range(n + 1)})
        self.edges: tuple[int, ...] = tuple(edges)  # 0 = edges[0] < ... < edges[-1] = T
        self.momentum = momentum
        self._means = [math.nan] * (len(edges) - 1)

    def update(self, t: Tensor, per_sample_loss: Tensor) -> None:
        """Fold one batch in: `t` (B,) long, `per_sample_loss` (B,) float, both on CPU."""
        bucket = torch.bucketize(t, torch.tensor(self.edges[1:-1]), right=True)  # (B,) in 0..n-1
        for b in bucket.unique().tolist():
            value = float(per_sample_loss[bucket == b].mean())
            if not math.isfinite(value):
                continue
            old = self._means[b]
            self._means[b] = value if math.isnan(old) else self.momentum * old + (1 - self.momentum) * value

    def means(self) -> tuple[float, ...]:
        """Running mean per bucket (NaN for a bucket not seen yet)."""
        return tuple(self._means)
