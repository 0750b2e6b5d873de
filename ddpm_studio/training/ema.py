"""Exponential moving average of the weights, the copy used for previews and sampling.

θ_ema ← d_n θ_ema + (1 − d_n) θ after n updates, with one of two schedules of d_n:

- warm-up EMA: d_n = min(d, (1 + n) / (10 + n)) (TensorFlow's ExponentialMovingAverage with num_updates),
  so early weights fade out quickly and the average then forgets with a fixed half-life;
- power EMA (Karras et al. 2024, "Analyzing and Improving the Training Dynamics of Diffusion Models",
  eq. 2): d_n = (1 − 1/(n + 1))^(γ + 1), whose averaging profile is a power function of the step, so the
  average always covers the same *share* of the run, however long it is. γ comes from the relative width
  σ_rel of that profile (their eq. 3): σ_rel = √((γ + 1) / ((γ + 2)² (γ + 3))).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor, nn


def power_ema_gamma(sigma_rel: float) -> float:
    """γ of the power EMA whose profile has relative width `sigma_rel` (Karras et al. 2024, eq. 3 solved for γ).

    With t = σ_rel², eq. 3 is the cubic γ³ + 7γ² + (16 − 1/t)γ + (12 − 1/t) = 0; its largest real root.
    """
    if not 0.0 < sigma_rel < 12 ** -0.5:
        raise ValueError(f"power EMA sigma_rel must be in (0, {12 ** -0.5:.4f}), got {sigma_rel}")
    t = sigma_rel ** 2
    roots = np.roots([1.0, 7.0, 16.0 - 1.0 / t, 12.0 - 1.0 / t])
    return float(roots[np.isreal(roots)].real.max())


class EMA:
    """Keeps a float32 shadow copy of a module (parameters averaged, buffers copied)."""

    def __init__(self, model: nn.Module, decay: float = 0.999, *, warmup: bool = True,
                 sigma_rel: float = 0.0) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        self.decay = decay
        self.warmup = warmup
        self.gamma = power_ema_gamma(sigma_rel) if sigma_rel > 0 else None  # None: the warm-up EMA
        self.updates = 0  # n: number of updates so far
        self.module: nn.Module = copy.deepcopy(model).float().eval()
        self.module.requires_grad_(False)

    def use_power_profile(self, sigma_rel: float) -> None:
        """From the next update on, average with the power EMA of relative width `sigma_rel` (a run that learns its
        length late: training/config.py's small-set recipe, decided at a time budget's plan). d_n depends on n
        alone, so the average carries on from the weights averaged so far, which the power profile's first
        updates (d_n small for small n) mostly replace."""
        self.gamma = power_ema_gamma(sigma_rel)

    def current_decay(self) -> float:
        """d_n for the next update."""
        if self.gamma is not None:
            return (1.0 - 1.0 / (self.updates + 1)) ** (self.gamma + 1.0)
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
