"""The validation loss: a held-out split of the training data, never trained on, scored now and then with the
fixed-noise loss (fixed_noise_loss.py), so its curve beside the training loss shows memorisation early (issue 24).

The split (`validation_count`, `split_for`): a new run holds out max(⌈3 % of N⌉, 32) images when at least 64
are left to train on, and the Trainer records the count in config.json (`training.validation_images`); a set too
small trains on every image and says so at each start (its config keeps None); older runs load 0
(LEGACY_DEFAULTS: they trained on every image and resume so). Which images: the `count` whose names have the
smallest hash of (seed, name), a pure function of the run's seed and its images' names, so a resume (or another
process under DDP) holds out exactly the same ones whatever order the source lists them in. They are left out of
every training batch (`TrainingSubset`).

What is measured: the network being trained (the weights whose loss history.jsonl records, in eval mode: no
dropout) on the held-out images, un-augmented, at the K = LOSS_TIMESTEPS fixed timesteps and each image's own fixed
noise (the per-image losses' protocol, seed NOISE_SEED), averaged over images and timesteps: a stratified estimate
of the training loss's E_t, so the two curves share a scale. Successive points differ only by the weights.

When (`ValidationCadence`, the quality monitor's and the previews' time-share mechanism): every
`validation_every_steps` steps, else as often as keeps it within `validation_time_share` of the training time
(time_share.py), and at the end of a session. Stored in validation.jsonl (one record per point); a resume drops
the points after its checkpoint and keeps the cadence. Rank 0 only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ddpm_studio.atomic import atomic_append, atomic_write_text
from ddpm_studio.training.config import TrainingConfig
from ddpm_studio.training.events import ValidationEvent
from ddpm_studio.training.fixed_noise_loss import (
    LOSS_TIMESTEPS,
    NOISE_SEED,
    conditioning_labels,
    fixed_noise_losses,
    fixed_timesteps,
)
from ddpm_studio.training.quality_monitor import dataset_images
from ddpm_studio.training.run_files import is_int, is_number, read_json_lines
from ddpm_studio.training.time_share import FORWARD_SHARE_OF_STEP, TimeShareCadence

log = logging.getLogger(__name__)

VALIDATION_FILE = "validation.jsonl"
VALIDATION_SHARE = 0.03  # a few percent of the images are held out ...
MIN_VALIDATION_IMAGES = 32  # ... but at least this many (fewer give a curve too noisy to read a gap from)
MIN_TRAINING_IMAGES = 64  # and only when at least this many are left to train on
VALIDATION_BATCH = 256  # network evaluations per forward pass (images × K)


def validation_count(images: int) -> int:
    """Images a new run of `images` images holds out: max(⌈3 % of N⌉, 32), or 0 when fewer than 64 would be left."""
    count = max(math.ceil(VALIDATION_SHARE * images), MIN_VALIDATION_IMAGES)
    return count if images - count >= MIN_TRAINING_IMAGES else 0


def too_few_message(images: int) -> str:
    """What the faces say when a set is too small to hold anything out."""
    need = MIN_VALIDATION_IMAGES + MIN_TRAINING_IMAGES
    return (f"{images} images are too few to hold out a validation split (it takes at least {need}); "
            f"training on all of them without a validation loss")


def _split_rank(seed: int, key: str) -> bytes:
    return hashlib.blake2b(f"validation\0{seed}\0{key}".encode(), digest_size=8).digest()


@dataclass(frozen=True)
class ValidationSplit:
    """Which images of a data set are held out (indices into it, ascending) and which are trained on."""

    held_out: tuple[int, ...]
    training: tuple[int, ...]

    @property
    def total(self) -> int:
        return len(self.held_out) + len(self.training)

    def describe(self, timesteps: int = LOSS_TIMESTEPS) -> str:
        """One line for the faces: the split and how it is scored."""
        return (f"validation: {len(self.held_out)} of {self.total} images held out (never trained on), scored at "
                f"fixed noise and {timesteps} fixed timesteps")


def split_for(keys: Sequence[str], count: int, seed: int) -> ValidationSplit:
    """Hold out the `count` images whose names hash lowest under `seed` (ValueError when fewer than one would be
    left to train on)."""
    n = len(keys)
    if not 0 <= count < n:
        raise ValueError(f"training.validation_images is {count}, but the data has {n} images: at least one must "
                         f"be left to train on")
    ranked = sorted(range(n), key=lambda i: (_split_rank(seed, str(keys[i])), i))
    held = sorted(ranked[:count])
    chosen = set(held)
    return ValidationSplit(tuple(held), tuple(i for i in range(n) if i not in chosen))


def recorded_split(training: TrainingConfig, keys: Sequence[str]) -> ValidationSplit | None:
    """The images a run held out, from what its config.json recorded (`validation_images` > 0, its seed) over the
    names of its data as loaded now: the split the Trainer made (`split_for` is a pure function of both). None
    when the run held out nothing (None or 0: too small a set, or a run from before the validation loss) or the
    data no longer has more images than that."""
    count = training.validation_images
    if not count or count >= len(keys):
        return None
    return split_for([str(k) for k in keys], count, training.seed)


class TrainingSubset(Dataset):
    """The images of a data set that are trained on: what BatchSource reads (its `batch` and `labels`)."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = torch.as_tensor(list(indices), dtype=torch.long)
        labels = getattr(dataset, "labels", None)
        self.labels: Tensor | None = None if labels is None else labels.index_select(0, self.indices)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def batch(self, indices: Sequence[int], generator: torch.Generator | None = None) -> Tensor:
        parent = self.indices.index_select(0, torch.as_tensor(list(indices), dtype=torch.long))
        return self.dataset.batch(parent.tolist(), generator=generator)


class ValidationCadence(TimeShareCadence):
    """Decides after each step whether to score the held-out images (see the module docstring)."""

    def __init__(self, config: TrainingConfig) -> None:
        self.every_steps = config.validation_every_steps
        super().__init__(config.validation_time_share if not self.every_steps else 0.0)

    def estimate_cost(self, step_seconds: float, batch_size: int, evaluations: int) -> float:
        """Seconds `evaluations` forward passes of one image take, from the seconds of a training step."""
        return evaluations * FORWARD_SHARE_OF_STEP * step_seconds / max(batch_size, 1)

    def due(self, step: int, elapsed_s: float, step_seconds: float | None, batch_size: int, evaluations: int) -> bool:
        if self.every_steps:
            return step % self.every_steps == 0
        return step_seconds is not None and self.due_by_time(
            elapsed_s, lambda: self.estimate_cost(step_seconds, batch_size, evaluations))


def _record_problem(record: dict[str, Any]) -> str | None:
    if not is_int(record.get("step")):
        return f"step must be an integer, got {record.get('step')!r:.40}"
    if not all(is_number(record.get(key)) for key in ("loss", "time", "seconds")):
        return "loss, time and seconds must be numbers"
    if not is_int(record.get("images")) or not isinstance(record.get("timesteps"), list):
        return "images must be an integer and timesteps a list"
    return None


def read_validation(run_path: Path) -> tuple[ValidationEvent, ...]:
    """The stored validation curve of a run, in step order (empty for a run without one)."""
    records = read_json_lines(Path(run_path) / VALIDATION_FILE, _record_problem)
    points = [ValidationEvent(step=int(r["step"]), elapsed_s=float(r["time"]), loss=float(r["loss"]),
                              images=int(r["images"]), timesteps=tuple(int(t) for t in r["timesteps"]),
                              seconds=float(r["seconds"])) for r in records]
    return tuple(sorted(points, key=lambda p: p.step))


class ValidationMonitor:
    """Scores the held-out images on the cadence and appends validation.jsonl."""

    def __init__(self, config: Any, dataset: Any, split: ValidationSplit | None, run_path: Path, *,
                 enabled: bool = True) -> None:
        self.config, self.dataset, self.run_path = config, dataset, Path(run_path)
        self.split = split
        self.cadence = ValidationCadence(config.training)
        self.enabled = bool(enabled and split is not None and split.held_out)
        self.timesteps = fixed_timesteps(config.diffusion.timesteps, LOSS_TIMESTEPS)
        self._images: Tensor | None = None  # (V, C, H, W) in [-1, 1], prepared at the first scoring
        self._last_step: int | None = None

    @property
    def path(self) -> Path:
        return self.run_path / VALIDATION_FILE

    @property
    def evaluations(self) -> int:
        return len(self.split.held_out) * len(self.timesteps) if self.split is not None else 0

    def due(self, step: int, elapsed_s: float, step_seconds: float | None, batch_size: int) -> bool:
        return self.enabled and self._last_step != step and self.cadence.due(
            step, elapsed_s, step_seconds, batch_size, self.evaluations)

    def final_due(self, step: int) -> bool:
        """The end of a session is always scored (the last point of the curve)."""
        return self.enabled and self._last_step != step

    def loss(self, model: torch.nn.Module, diffusion: Any) -> float:
        """The fixed-noise loss of `model` on the held-out images, mean over images and the K timesteps."""
        assert self.split is not None
        held = torch.as_tensor(self.split.held_out, dtype=torch.long)
        if self._images is None:
            self._images = dataset_images(self.dataset, held)
        keys = [str(self.dataset.keys[i]) for i in self.split.held_out]
        all_labels = getattr(self.dataset, "labels", None)
        labels = conditioning_labels(None if all_labels is None else all_labels.index_select(0, held), len(keys),
                                     self.config.model.num_classes)
        was_training = model.training
        model.eval()  # no dropout: successive points differ only by the weights
        try:
            parts = [losses for _, losses in fixed_noise_losses(model, diffusion, self._images, keys, labels,
                                                                 self.timesteps, seed=NOISE_SEED,
                                                                 batch_size=VALIDATION_BATCH)]
        finally:
            model.train(was_training)
        return float(torch.cat(parts).double().mean())

    def evaluate(self, model: torch.nn.Module, diffusion: Any, step: int, elapsed_s: float) -> ValidationEvent:
        """Score the held-out images and append one record."""
        started = time.perf_counter()
        self._last_step = step
        value = self.loss(model, diffusion)
        seconds = time.perf_counter() - started
        images = len(self.split.held_out) if self.split is not None else 0
        atomic_append(self.path, [json.dumps({"step": step, "loss": value, "images": images,
                                              "timesteps": list(self.timesteps), "seed": NOISE_SEED,
                                              "time": round(elapsed_s, 3), "wall": round(time.time(), 3),
                                              "seconds": round(seconds, 3)}) + "\n"], what="the validation loss")
        return ValidationEvent(step=step, elapsed_s=elapsed_s, loss=value, images=images, timesteps=self.timesteps,
                               seconds=seconds)

    def record_cost(self, seconds: float, elapsed_s: float) -> None:
        self.cadence.record(seconds, elapsed_s)

    def restart(self, step: int, elapsed_s: float) -> None:
        """A resume from `step`: drop later points and keep the stored curve's cadence."""
        self._last_step = step
        if not self.enabled:  # nothing held out, or not the process that writes (DDP rank > 0)
            self.cadence.restart(elapsed_s)
            return
        kept = [r for r in read_json_lines(self.path, _record_problem) if r["step"] <= step]
        if self.path.is_file():
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept), what="the validation loss")
        if kept:
            last = max(kept, key=lambda r: r["step"])
            cost = float(last["seconds"])
            self.cadence.restart(elapsed_s, float(last["time"]) + cost, cost if cost > 0 else None)
        else:
            self.cadence.restart(elapsed_s)
