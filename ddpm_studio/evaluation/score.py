"""The one way a score is computed, whichever face asks (the training curve, the Sampler's Evaluate, Compare
samplers / sweep, `ddpm-studio eval`): `score_samples` evaluates samples against a prepared reference under a
stated `Protocol`, with bootstrap error bars (uncertainty.py), and `floor_score` scores real images under the
same protocol, so a number and its real-vs-real floor always share their counts.

    score = score_samples(samples, reference, protocol, config, training)
    floor = floor_score(real_pool, reference, protocol, config, training)   # sample_count real images
    note = floor_note("swd", score, floor)                                   # 'within error of the floor', …
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from ddpm_studio.evaluation.config import EvaluationConfig
from ddpm_studio.evaluation.evaluate import EvaluationReport, PreparedReference, evaluate
from ddpm_studio.evaluation.protocol import Protocol
from ddpm_studio.evaluation.uncertainty import BOOTSTRAPS, combined_error

__all__ = ["Score", "score_samples", "floor_score", "floor_note", "LOWER_IS_BETTER", "BEYOND_FLOOR_NOTE",
           "WITHIN_FLOOR_NOTE"]

LOWER_IS_BETTER = frozenset({"swd", "memorised", "fid", "kid", "nn_distance"})  # and every swd_<side>px
WITHIN_FLOOR_NOTE = "within error of the floor"
BEYOND_FLOOR_NOTE = ("better than real vs real beyond the error: a lucky draw or a small reference set, "
                     "not better than real data")


@dataclass(frozen=True)
class Score:
    """One scored image set: its report (values and bootstrap errors) and the protocol it was measured under."""

    protocol: Protocol
    report: EvaluationReport

    def values(self) -> dict[str, float]:
        return self.report.scalars()

    def errors(self) -> dict[str, float]:
        return dict(self.report.errors)

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol.to_dict(), "metrics": self.values(), "errors": self.errors()}


def score_samples(samples: Tensor, reference: PreparedReference, protocol: Protocol, config: EvaluationConfig,
                  training: Tensor | None = None, *, bootstraps: int = BOOTSTRAPS) -> Score:
    """Score `samples` (N, C, H, W) in [-1, 1] against `reference` with error bars. The protocol must state
    what is measured: N = protocol.sample_count and the reference's size = protocol.reference_count
    (ValueError otherwise: a number is never shown with another protocol than its own)."""
    if samples.shape[0] != protocol.sample_count:
        raise ValueError(f"the protocol says {protocol.sample_count} samples, got {samples.shape[0]}")
    if reference.images.shape[0] != protocol.reference_count:
        raise ValueError(f"the protocol says {protocol.reference_count} reference images, got "
                         f"{reference.images.shape[0]}")
    return Score(protocol, evaluate(samples, reference, training, config, bootstraps=bootstraps))


def floor_score(real: Tensor, reference: PreparedReference, protocol: Protocol, config: EvaluationConfig,
                training: Tensor | None = None, *, bootstraps: int = BOOTSTRAPS) -> Score | None:
    """The real-vs-real floor under `protocol`: the first `protocol.sample_count` of `real` (images that are not
    in the reference) scored as if they were samples; None when there are fewer."""
    if real.shape[0] < protocol.sample_count:
        return None
    return score_samples(real[:protocol.sample_count], reference, protocol, config, training, bootstraps=bootstraps)


def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER or metric.startswith("swd_")


def floor_note(metric: str, value: float, error: float | None, floor: float | None,
               floor_error: float | None) -> str | None:
    """What to say beside a value compared with its floor: WITHIN_FLOOR_NOTE when they differ by less than
    their combined error, BEYOND_FLOOR_NOTE when the value is better than the floor by more, else None."""
    if floor is None:
        return None
    margin = (floor - value) if lower_is_better(metric) else (value - floor)  # > 0: better than real data
    error = combined_error(error, floor_error)
    if abs(margin) <= error:
        return WITHIN_FLOOR_NOTE
    if margin > 0:
        return BEYOND_FLOOR_NOTE
    return None
