"""Exponential moving average of the weights, the copy used for previews and sampling.

θ_ema ← d_n θ_ema + (1 − d_n) θ, with the warm-up d_n = min(d, (1 + n) / (10 + n)) after n updates
(as in TensorFlow's ExponentialMovingAverage with num_updates), so early weights fade out quickly.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


class EMA:
    """Keeps a float32 shadow copy of a module (parameters averaged, buffers copied)."""

    def __init__(self, model: nn.Module, decay: float = 0.999, *, warmup: bool = True) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        self.decay = decay
        self.warmup = warmup
        self.updates = 0  # n: number of updates so far
        self.module: nn.Module = copy.deepcopy(model).float().eval()
        self.module.requires_grad_(False)

    def current_decay(self) -> float:
        """d_n for the next update."""
        if not self.warmup:
            return self.decay
        n = self.updates
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One EMA step towards `model`'s current weights (same architecture, any dtype/memory format)."""
        d = self.current_decay()
        ema_params = list(self.module.parameters())
        params = [p.detach().to(dtype=e.dtype) for p, e in zip(model.parameters(), ema_params)]
        if ema_params:
            torch._foreach_lerp_(ema_params, params, 1.0 - d)  # e + (1-d)(p - e) = d e + (1-d) p
        for e_buf, buf in zip(self.module.buffers(), model.buffers()):
            e_buf.copy_(buf)
        self.updates += 1

    def state_dict(self) -> dict[str, Tensor]:
        """The averaged weights, keyed like the model's own state dict (contiguous, for safetensors)."""
        return {k: v.detach().contiguous() for k, v in self.module.state_dict().items()}

    def load_state_dict(self, state: dict[str, Tensor], updates: int) -> None:
        """Restore the averaged weights and the update count n."""
        self.module.load_state_dict(state, strict=True)
        self.updates = int(updates)
