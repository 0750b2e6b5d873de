"""The forward process on real images, for both faces: a fixed x_0 batch and one fixed ε per image, noised to
any t (Ho et al. eq. 4), and the images × t grid (the forward view's figure, the CLI's `noise` command).

x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε. Each image's ε is drawn once from a generator seeded by (seed, image key),
so scrubbing the slider is smooth and deterministic, and a second schedule sees the same x_0 and ε.
The paper's t = 0 is x_0 itself; t ≥ 1 uses schedule index t-1 (index 0 is the paper's t = 1), so t runs
over 0…T in both faces. Qt-free.
"""

from __future__ import annotations

import numpy as np
import torch

from ddpm_studio.data.transforms import to_uint8
from ddpm_studio.engine.forward import q_sample
from ddpm_studio.engine.schedules import NoiseSchedule

GRID_COLUMNS = 8  # values of t in the images × t figure


def spread_of_t(timesteps: int, columns: int = GRID_COLUMNS) -> list[int]:
    """`columns` values of the paper's t from 0 (x_0) to T, evenly spaced (Ho et al. Fig. 2 style)."""
    return sorted({int(round(v)) for v in np.linspace(0, timesteps, columns)})


def check_ts(ts: list[int], timesteps: int) -> None:
    """ValueError naming the first t outside the paper's 0…T."""
    bad = [t for t in ts if not 0 <= t <= timesteps]
    if bad:
        raise ValueError(f"t={bad[0]} is out of range 0..{timesteps} for T={timesteps} (t = 0 is the image itself)")


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


def forward_grid(x0: torch.Tensor, schedules: list[NoiseSchedule], ts: list[int], seed: int) -> np.ndarray:
    """(B · len(schedules), len(ts), H, W, C) uint8: per image, one row per schedule, the same x_0 and ε."""
    noiser = ForwardNoiser()
    noiser.set_images(x0, list(range(x0.shape[0])), seed)
    grids = [noiser.grid(schedule, ts) for schedule in schedules]  # each (B, len(ts), H, W, C)
    return np.stack(grids, axis=1).reshape(-1, *grids[0].shape[1:])
