"""Typed configuration of the diffusion process (training side); sampling's is ``sampling_config.py``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ddpm_studio.engine.losses import LOSS_NAMES
from ddpm_studio.engine.schedules import SCHEDULE_NAMES
from ddpm_studio.typed_config import load_config

OBJECTIVES: tuple[str, ...] = ("eps", "x0", "v")


def _choice(field_name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{field_name} must be one of {', '.join(allowed)}, got {value!r}")


def _int_at_least(field_name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{field_name} must be an integer >= {low}, got {value!r}")


def _finite_at_least(field_name: str, value: Any, low: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
        raise ValueError(f"{field_name} must be a finite number >= {low}, got {value!r}")


@dataclass
class DiffusionConfig:
    """How x_0 is noised and what the network learns to predict."""

    schedule: str = "cosine"  # one of SCHEDULE_NAMES
    timesteps: int = 1000  # T
    objective: str = "v"  # "eps" | "x0" | "v": the regression target of L_simple (v measured best, issue 10)
    loss: str = "l2"  # "l2" | "l1" | "huber"
    snr_gamma: float = 0.0  # γ of min-SNR-γ loss weighting (Hang et al. 2023); 0 = unweighted L_simple
    learned_variance: bool = False  # model outputs 2C channels (Improved DDPM, eq. 15)
    vlb_weight: float = 0.001  # λ in L_hybrid = L_simple + λ L_vlb

    def validate(self) -> None:
        """Raise ValueError with a one-line reason if any field is out of range."""
        _choice("schedule", self.schedule, SCHEDULE_NAMES)
        _int_at_least("timesteps", self.timesteps, 1)
        _choice("objective", self.objective, OBJECTIVES)
        _choice("loss", self.loss, LOSS_NAMES)
        _finite_at_least("snr_gamma", self.snr_gamma, 0.0)
        if not isinstance(self.learned_variance, bool):
            raise ValueError(f"learned_variance must be a bool, got {self.learned_variance!r}")
        _finite_at_least("vlb_weight", self.vlb_weight, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> DiffusionConfig:
        """Build and validate from parsed JSON (`typed_config.load_config`: unknown keys are an error)."""
        return load_config(cls, data, source=source)
