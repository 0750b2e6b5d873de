"""How to run the reverse process: the sampler (a row of the sampler table), its steps and its randomness."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ddpm_studio.engine.config import _choice, _finite_at_least, _int_at_least
from ddpm_studio.engine.sampler_table import SAMPLERS
from ddpm_studio.typed_config import load_config

__all__ = ["SamplingConfig", "DDPM_VARIANCES"]

DDPM_VARIANCES: tuple[str, ...] = ("fixed_small", "fixed_large")


@dataclass
class SamplingConfig:
    """How to run the reverse process."""

    method: str = "ddim"  # a row of engine.sampler_table.SAMPLERS
    steps: int = 50  # sampler steps (DDPM always uses T); the cost in NFE is `nfe(T)` (Heun: 2·steps - 1)
    eta: float = 0.0  # DDIM η: 0 deterministic, 1 matches DDPM's posterior variance (Euler ancestral: always 1)
    variance: str = "fixed_small"  # DDPM: "fixed_small" (β̃_t) | "fixed_large" (β_t); ignored when learned
    clip_x0: bool = True  # clip the predicted x_0 to [-1, 1]
    noise_scale: float = 1.0  # scale of the fresh noise z added per ancestral step (temperature)
    seed: int = 0  # seeds the generator for x_T and every z
    count: int = 16  # number of images

    def validate(self) -> None:
        """Raise ValueError with a one-line reason if any field is out of range."""
        SAMPLERS.lookup(self.method)
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
        return SAMPLERS.lookup(self.method).nfe(self.steps, num_timesteps)

    def with_nfe(self, nfe_budget: int, num_timesteps: int) -> SamplingConfig:
        """A copy whose ``steps`` spend at most ``nfe_budget`` evaluations (the sampler table's ``steps_for_nfe``)."""
        return replace(self, steps=SAMPLERS.lookup(self.method).steps_for_nfe(nfe_budget, num_timesteps))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> SamplingConfig:
        """Build and validate from parsed JSON (`typed_config.load_config`: unknown keys are an error)."""
        return load_config(cls, data, source=source)
