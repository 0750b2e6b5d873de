"""The measurement protocol of a score: what was sampled and what it was measured against.

SWD falls with the sample count (fewer descriptors, a noisier sorted projection: a smaller set is "closer" to
nothing and further from everything), precision/recall move with both counts (k-NN radii shrink as a set
grows), so two numbers are comparable only under one protocol. Every face shows a score with its protocol
(`caption()`), and the real-vs-real floor beside it is always measured under the same one
(`evaluation/score.py`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ddpm_studio.engine import SAMPLERS

__all__ = ["Protocol", "sampler_name", "MIN_TRUSTED_SAMPLES"]

MIN_TRUSTED_SAMPLES = 64  # below this many samples SWD's error and bias grow fast: a face warns (issue 21)


def sampler_name(name: str) -> str:
    """The sampler's short display label ("dpmpp_2m" -> "DPM-Solver++"); an unknown name shows itself."""
    return SAMPLERS[name].short_label if name in SAMPLERS else name


@dataclass(frozen=True)
class Protocol:
    """sample_count samples (sampler at steps; None: images given as they are) from x_T seed `seed`, scored
    against `reference_count` real images of `reference` (a held-out spec or a description)."""

    sample_count: int
    sampler: str | None
    steps: int | None
    reference: str
    reference_count: int
    seed: int = 0
    # what the samples asked for: "" none (an unconditional model; a conditional model's null class in scores
    # stored before class-asked scoring), or class_mix.CLASSES_AS_DATA
    classes: str = ""

    def caption(self, metric: str = "SWD×10³") -> str:
        """'SWD×10³ · 64 samples · DPM-Solver++ 10 · vs 256 real' (metric '' leaves it out; a conditional model's
        samples add what they asked for: '· classes as in the data')."""
        parts = [metric] if metric else []
        parts.append(f"{self.sample_count} samples")
        if self.sampler is not None:
            name = sampler_name(self.sampler)
            parts.append(f"{name} {self.steps}" if self.steps is not None else name)
        if self.classes:
            parts.append(self.classes)
        parts.append(f"vs {self.reference_count} real")
        return " · ".join(parts)

    def comparable(self, other: Protocol) -> bool:
        """Same counts, sampler, steps, classes and reference: the two scores measure the same thing."""
        return (self.sample_count, self.sampler, self.steps, self.classes, self.reference, self.reference_count) == (
            other.sample_count, other.sampler, other.steps, other.classes, other.reference, other.reference_count)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "caption": self.caption("")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Protocol:
        """From `to_dict` (the caption is ignored); ValueError on missing or wrongly typed fields."""
        try:
            protocol = cls(int(data["sample_count"]), data.get("sampler"), data.get("steps"),
                           str(data["reference"]), int(data["reference_count"]), int(data.get("seed", 0)),
                           str(data.get("classes") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a measurement protocol: {exc}") from None
        return protocol
