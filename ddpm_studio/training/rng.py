"""The random streams of one rank, kept apart from the rest of the process and checkpointed.

Three seeded generators per rank: t and ε (Ho et al. Algorithm 1, lines 3-4), data augmentation (crops
and flips), and a private state of the global CPU RNG that dropout draws from. The process's own global
RNG is swapped out only while a step runs, so training never disturbs (or depends on) anyone else's draws.
Ranks get different streams (seed + 1_000_003·rank), so every rank sees different t and ε.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

RANK_STRIDE = 1_000_003  # seed offset between ranks


class RandomStreams:
    """t/ε sampler, data generator and the private global-RNG state of one rank."""

    def __init__(self, seed: int, rank: int = 0) -> None:
        rank_seed = seed + RANK_STRIDE * rank
        self.sampler = torch.Generator().manual_seed(rank_seed + 1)  # t and ε
        self.data = torch.Generator().manual_seed(rank_seed + 2)  # crops and flips
        self.global_state = torch.Generator().manual_seed(rank_seed + 3).get_state()  # "global" RNG (dropout)

    def draw_t_and_noise(self, shape: torch.Size, timesteps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """t ~ U{0..T-1} (B,) and ε ~ N(0, I) of `shape` (B, C, H, W), both on the CPU, in that order."""
        t = torch.randint(0, timesteps, (shape[0],), generator=self.sampler)
        noise = torch.randn(shape, generator=self.sampler)
        return t, noise

    def drop_labels(self, labels: torch.Tensor, p: float, null: int) -> torch.Tensor:
        """Labels (B,) with each replaced by `null` with probability `p` (and unlabelled ones, -1, always): the
        label dropout that trains ε(x_t, t, ∅) in the same network (Ho & Salimans 2022, Algorithm 1)."""
        dropped = torch.rand(labels.shape, generator=self.sampler) < p
        return torch.where(dropped | (labels < 0), torch.full_like(labels, null), labels)

    @contextlib.contextmanager
    def own_global_rng(self) -> Iterator[None]:
        """Run with this rank's own global-CPU-RNG state (dropout), leaving the process's state as it was."""
        outside = torch.get_rng_state()
        torch.set_rng_state(self.global_state)
        try:
            yield
        finally:
            self.global_state = torch.get_rng_state()
            torch.set_rng_state(outside)

    def state(self) -> dict[str, Any]:
        """The three states as plain tensors (one entry of the checkpoint's per-rank "rng" list)."""
        return {"sampler": self.sampler.get_state(), "data": self.data.get_state(), "torch": self.global_state}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what `state()` returned (KeyError / RuntimeError if it is not such a dict)."""
        self.sampler.set_state(state["sampler"])
        self.data.set_state(state["data"])
        self.global_state = state["torch"]
