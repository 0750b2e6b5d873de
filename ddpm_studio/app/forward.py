"""The forward view's model: a fixed x_0 batch and one fixed ε per image, noised to any t (Ho et al. eq. 4).

x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε. Each image's ε is drawn once from a generator seeded by (seed, image key),
so scrubbing the slider is smooth and deterministic, and a second schedule sees the same x_0 and ε.
The paper's t = 0 is x_0 itself; t ≥ 1 uses schedule index t-1 (index 0 is the paper's t = 1). Qt-free.
"""

from __future__ import annotations

import numpy as np
import torch

from ddpm_studio.data.transforms import to_uint8
from ddpm_studio.engine.forward import q_sample
from ddpm_studio.engine.schedules import NoiseSchedule


class ForwardNoiser:
    """Qt-free: fixed x_0 batch and fixed ε, evaluated at any t under any schedule."""

    def __init__(self) -> None:
        self.x0: torch.Tensor | None = None  # (B, C, H, W) in [-1, 1]
        self.eps: torch.Tensor | None = None  # (B, C, H, W) ~ N(0, I), one fixed draw per image

    def set_images(self, x0: torch.Tensor, keys: list[int], seed: int) -> None:
        """Use `x0` (B,C,H,W); ε_i is drawn from a generator seeded by (seed, keys[i])."""
        noise = []
        for key in keys:
            generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(key))
            noise.append(torch.randn(x0.shape[1:], generator=generator, dtype=torch.float32))
        self.x0 = x0.to(torch.float32)
        self.eps = torch.stack(noise) if noise else torch.empty_like(self.x0)

    def xt(self, schedule: NoiseSchedule, t: int) -> torch.Tensor:
        """x_t for the whole batch at the paper's t (0 → x_0; t ≥ 1 → eq. 4 at index t-1)."""
        assert self.x0 is not None and self.eps is not None
        if t <= 0:
            return self.x0
        index = torch.full((self.x0.shape[0],), min(t, schedule.timesteps) - 1, dtype=torch.long)
        return q_sample(schedule, self.x0, index, self.eps)

    def grid(self, schedule: NoiseSchedule, ts: list[int]) -> np.ndarray:
        """(B, len(ts), H, W, C) uint8: every image at every t of `ts`."""
        return np.stack([to_uint8(self.xt(schedule, t)) for t in ts], axis=1)
