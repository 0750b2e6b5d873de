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
    # steering (engine/guidance.py); the defaults leave sampling exactly as it was without them
    labels: tuple[int, ...] = ()  # class index of every image (one value) or of each image (count values); () = none
    guidance: float = 1.0  # w: 1 = plain (conditional) model, 0 = unconditional, > 1 = guided (CFG, or autoguidance)
    guidance_interval: tuple[int, ...] = ()  # (t_lo, t_hi): guide only for t_lo <= t <= t_hi (Kynkäänniemi 2024)
    guidance_rescale: float = 0.0  # φ of CFG-rescale (Lin et al. 2024), 0..1; 0 = off

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
        for label in self.labels:
            _int_at_least("labels", label, 0)
        if len(self.labels) > 1 and len(self.labels) != self.count:
            raise ValueError(f"give one class label or one per image ({self.count}), got {len(self.labels)}")
        _finite_at_least("guidance", self.guidance, 0.0)
        if self.guidance_interval and (len(self.guidance_interval) != 2
                                       or not 0 <= self.guidance_interval[0] <= self.guidance_interval[1]):
            raise ValueError(f"guidance_interval must be (t_lo, t_hi) with 0 <= t_lo <= t_hi, "
                             f"got {list(self.guidance_interval)}")
        _finite_at_least("guidance_rescale", self.guidance_rescale, 0.0)
        if self.guidance_rescale > 1:
            raise ValueError(f"guidance_rescale must be in [0, 1], got {self.guidance_rescale}")

    @property
    def interval(self) -> tuple[int, int] | None:
        """`guidance_interval` as (t_lo, t_hi), or None for every step."""
        return (self.guidance_interval[0], self.guidance_interval[1]) if self.guidance_interval else None

    def batch_factor(self, *, guide: bool = False) -> int:
        """Network inputs per image per evaluation: 2 when guiding (classifier-free guidance doubles the batch,
        autoguidance runs a second network), else 1. NFE (`nfe`) counts steps and is the same either way."""
        return 2 if self.guidance not in (0.0, 1.0) and (bool(self.labels) or guide) else 1

    def for_images(self, first: int, count: int) -> SamplingConfig:
        """This config for images first .. first + count - 1 of it (a chunk): per-image labels are sliced."""
        labels = self.labels[first:first + count] if len(self.labels) > 1 else self.labels
        return replace(self, count=count, labels=labels)

    def nfe(self, num_timesteps: int) -> int:
        """Network evaluations this config costs on a model with T = ``num_timesteps``."""
        return SAMPLERS.lookup(self.method).nfe(self.steps, num_timesteps)

    def with_nfe(self, nfe_budget: int, num_timesteps: int) -> SamplingConfig:
        """A copy whose ``steps`` spend at most ``nfe_budget`` evaluations (the sampler table's ``steps_for_nfe``)."""
        return replace(self, steps=SAMPLERS.lookup(self.method).steps_for_nfe(nfe_budget, num_timesteps))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"], d["guidance_interval"] = list(self.labels), list(self.guidance_interval)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> SamplingConfig:
        """Build and validate from parsed JSON (`typed_config.load_config`: unknown keys are an error)."""
        return load_config(cls, data, source=source)
