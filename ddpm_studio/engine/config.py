"""Typed configuration of the diffusion process (training side) and of sampling."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from ddpm_studio.engine.losses import LOSS_NAMES
from ddpm_studio.engine.nfe import SAMPLERS, nfe, steps_for_nfe
from ddpm_studio.engine.schedules import SCHEDULE_NAMES
from ddpm_studio.typed_config import load_config

OBJECTIVES: tuple[str, ...] = ("eps", "x0", "v")
SAMPLING_METHODS: tuple[str, ...] = SAMPLERS  # ddpm, ddim, euler, heun, euler_ancestral, dpmpp_2m
DDPM_VARIANCES: tuple[str, ...] = ("fixed_small", "fixed_large")


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


@dataclass
class SamplingConfig:
    """How to run the reverse process."""

    method: str = "ddim"  # one of SAMPLING_METHODS
    steps: int = 50  # sampler steps (DDPM always uses T); the cost in NFE is `nfe(T)` (Heun: 2·steps - 1)
    eta: float = 0.0  # DDIM η: 0 deterministic, 1 matches DDPM's posterior variance (Euler ancestral: always 1)
    variance: str = "fixed_small"  # DDPM: "fixed_small" (β̃_t) | "fixed_large" (β_t); ignored when learned
    clip_x0: bool = True  # clip the predicted x_0 to [-1, 1]
    noise_scale: float = 1.0  # scale of the fresh noise z added per ancestral step (temperature)
    seed: int = 0  # seeds the generator for x_T and every z
    count: int = 16  # number of images

    def validate(self) -> None:
        """Raise ValueError with a one-line reason if any field is out of range."""
        _choice("method", self.method, SAMPLING_METHODS)
        _int_at_least("steps", self.steps, 1)
        _finite_at_least("eta", self.eta, 0.0)
        _choice("variance", self.variance, DDPM_VARIANCES)
        if not isinstance(self.clip_x0, bool):
            raise ValueError(f"clip_x0 must be a bool, got {self.clip_x0!r}")
        _finite_at_least("noise_scale", self.noise_scale, 0.0)
        _int_at_least("seed", self.seed, 0)
        _int_at_least("count", self.count, 1)

    def nfe(self, num_timesteps: int) -> int:
        """Network evaluations this config costs on a model with T = ``num_timesteps``."""
        return nfe(self.method, self.steps, num_timesteps)

    def with_nfe(self, nfe_budget: int, num_timesteps: int) -> SamplingConfig:
        """A copy whose ``steps`` spend at most ``nfe_budget`` evaluations (see ``engine.nfe.steps_for_nfe``)."""
        return replace(self, steps=steps_for_nfe(self.method, nfe_budget, num_timesteps))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> SamplingConfig:
        """Build and validate from parsed JSON (`typed_config.load_config`: unknown keys are an error)."""
        return load_config(cls, data, source=source)
