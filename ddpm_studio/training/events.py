"""What the Trainer reports, as small frozen dataclasses (snapshots only: floats, ints, numpy arrays, paths).

The GUI worker turns each event into a Qt signal, the CLI into a progress bar; neither reaches into the
Trainer. Only rank 0 emits events under DDP.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddpm_studio.evaluation.protocol import Protocol

FAILURE_KINDS: tuple[str, ...] = ("nan", "oom", "data", "error")
FINISH_REASONS: tuple[str, ...] = ("completed", "stopped")


@dataclass(frozen=True)
class StepEvent:
    """One optimiser step done. `loss` is the batch mean (averaged over ranks under DDP)."""

    step: int  # steps done so far (1 after the first step)
    epoch: int  # 1-based epoch this step belongs to
    loss: float
    lr: float
    images_per_s: float  # smoothed throughput, data loading included, all ranks together
    elapsed_s: float  # training time of the run so far (summed over resumes)
    total_steps: int | None  # the step training will stop at, when known
    grad_norm: float | None = None  # global gradient norm before clipping (None: clipping off)
    images_seen: int | None = None  # training images drawn so far, all ranks (step × batch × world size)
    # the Trainer's own accounting of this session: seconds in previews, metrics and checkpoints, and the
    # session's training time (elapsed_s counts them all); the overhead notice reads these (issue 21)
    overhead_s: dict[str, float] | None = None
    session_s: float | None = None


@dataclass(frozen=True)
class TimestepLossEvent:
    """Running mean of the per-sample loss in buckets of t: bucket i covers [edges[i], edges[i+1])."""

    step: int
    bucket_edges: tuple[int, ...]  # len = buckets + 1, from 0 to T
    bucket_losses: tuple[float, ...]  # NaN for a bucket not seen yet


@dataclass(frozen=True)
class PreviewEvent:
    """A preview: `preview` was sampled with the EMA weights from a fixed noise seed (TrainingConfig's
    preview_sampler), at an epoch's end or, by time share, within one (training/previews.py)."""

    epoch: int  # 1-based number of the epoch in progress (its previews/epoch_XXXX.png holds the latest)
    step: int
    preview: np.ndarray  # (N, H, W, C) uint8


@dataclass(frozen=True)
class MetricsEvent:
    """The EMA model's samples were scored (quality_monitor.py); `metrics` as EvaluationReport.scalars()."""

    step: int
    elapsed_s: float  # training time at this point
    metrics: dict[str, float]  # swd (×10³), swd_<side>px, precision, recall, memorised, nn_distance
    seconds: float  # what the evaluation cost
    floor: dict[str, float] | None = None  # real vs real at the same sizes, when there were enough images
    best_step: int | None = None  # the step whose samples scored best so far (its checkpoint is kept)
    errors: dict[str, float] | None = None  # bootstrap standard errors of `metrics` (None: an older run)
    floor_errors: dict[str, float] | None = None
    protocol: Protocol | None = None  # what was measured (evaluation/protocol.py); None: an older run


@dataclass(frozen=True)
class ValidationEvent:
    """The held-out images were scored at fixed noise and timesteps (validation.py): the validation loss."""

    step: int
    elapsed_s: float  # training time at this point
    loss: float  # mean over the held-out images and the fixed timesteps
    images: int  # held-out images scored
    timesteps: tuple[int, ...]  # the fixed timesteps
    seconds: float  # what the scoring cost

    @property
    def caption(self) -> str:
        """What the curve is, for a legend."""
        return f"validation ({self.images} held-out images, fixed noise, {len(self.timesteps)} timesteps)"


@dataclass(frozen=True)
class CheckpointEvent:
    """A checkpoint was written (atomically) at `path`."""

    step: int
    path: Path


@dataclass(frozen=True)
class FinishedEvent:
    """Training ended normally: "completed" (reached its length) or "stopped" (on request)."""

    step: int
    reason: str


@dataclass(frozen=True)
class FailedEvent:
    """Training ended on an error; `kind` is one of "nan", "oom", "data", "error"."""

    step: int
    message: str  # one line, meant for a person
    kind: str


TrainingEvent = (StepEvent | TimestepLossEvent | PreviewEvent | MetricsEvent | ValidationEvent | CheckpointEvent
                 | FinishedEvent | FailedEvent)
