"""Per-image losses: every training image of a run scored by the run's own denoising loss at fixed noise and
fixed timesteps, so the outliers, the mislabelled and the broken images rise to the top (issue 24, item 3).

For image x_0^(i) and each of K timesteps t_k spread over the schedule (the midpoints of K equal slices of
0..T-1), the loss is the engine's own `GaussianDiffusion.training_losses` (Ho et al. 2020, eq. 14 with the
run's objective, regression loss and min-SNR weighting; + λ·L_vlb for a learned variance) at

    x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε^(i)_k,        ε^(i) ~ N(0, I) drawn from a generator keyed by the image's name,

so two calls agree bit for bit and two checkpoints of a run are scored on the same noise. The image's
score is the mean over the K timesteps. A conditional model sees the image's own label (the null class for
an unlabelled image, as in training). The model is the checkpoint's EMA network (what samples come from).
The images the run held out for its validation loss (`training.validation.recorded_split`) are scored too and
marked `held_out`: never trained on, so the gap between their losses and the trained images' is memorisation
seen image by image (`PerImageLosses.split_summary`).
The protocol (timesteps, noise, loss) is `training/fixed_noise_loss.py`, which the Trainer's validation loss
shares. Qt-free; both faces call `per_image_report`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ddpm_studio.app.near_duplicates import NearDuplicates, near_duplicates
from ddpm_studio.data import DataConfig, DataSourceError, ImageDataset, load_dataset
from ddpm_studio.errors_text import one_line, shorten
from ddpm_studio.training.checkpoint import load_checkpoint, load_model
from ddpm_studio.training.devices import resolve_device
from ddpm_studio.training.fixed_noise_loss import (
    LOSS_TIMESTEPS,
    NOISE_SEED,
    conditioning_labels,
    fixed_noise_losses,
    fixed_timesteps,
    image_losses,
    image_noise,
)
from ddpm_studio.training.quality_monitor import dataset_images
from ddpm_studio.training.validation import recorded_split

__all__ = ["LOSS_TIMESTEPS", "MAX_LOSS_TIMESTEPS", "ImageLoss", "LossProgress", "LossSettings", "PerImageLosses",
           "PerImageReport", "duplicates_csv", "fixed_timesteps", "image_noise", "image_losses", "load_training_data",
           "losses_csv", "per_image_report"]

MAX_LOSS_TIMESTEPS = 1000  # K is at most this (and at most T)

StopFn = Callable[[], bool]


@dataclass(frozen=True)
class LossSettings:
    """How the images are scored: K timesteps, the noise seed, images per batch (× K evaluations)."""

    timesteps: int = LOSS_TIMESTEPS
    seed: int = NOISE_SEED
    batch_size: int = 64  # network evaluations per batch (images per batch = batch_size // K, at least 1)

    def validate(self) -> None:
        if not 1 <= self.timesteps <= MAX_LOSS_TIMESTEPS:
            raise ValueError(f"the number of timesteps must be in 1..{MAX_LOSS_TIMESTEPS}, got {self.timesteps}")
        if self.batch_size < 1:
            raise ValueError(f"the batch size must be at least 1, got {self.batch_size}")


@dataclass(frozen=True)
class LossProgress:
    """A progress snapshot: `stage` ("loading data", "scoring", "near-duplicates"), done of total."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class ImageLoss:
    """One training image's losses: its index in the data set, its file name, class, mean and per-t losses."""

    index: int
    key: str
    label: str | None  # the class name, None for an unconditional run or an unlabelled image
    mean: float  # mean over the K fixed timesteps
    per_timestep: tuple[float, ...]  # (K,) in the order of PerImageLosses.timesteps
    held_out: bool = False  # held out for the run's validation loss: never trained on


@dataclass(frozen=True)
class PerImageLosses:
    """The table: one row per scored image in the data set's order (`ranked()`: highest mean loss first)."""

    checkpoint: Path
    step: int
    source: str
    objective: str
    loss: str
    timesteps: tuple[int, ...]
    rows: tuple[ImageLoss, ...]
    total: int  # images in the data set (rows < total when cancelled)

    @property
    def complete(self) -> bool:
        return len(self.rows) == self.total

    def ranked(self) -> tuple[ImageLoss, ...]:
        """Highest mean loss first (ties: data set order)."""
        return tuple(sorted(self.rows, key=lambda r: (-r.mean, r.index)))

    def median(self) -> float:
        return float(np.median([r.mean for r in self.rows])) if self.rows else float("nan")

    @property
    def held_out_count(self) -> int:
        return sum(r.held_out for r in self.rows)

    def split_summary(self) -> str | None:
        """The held-out images' median loss beside the trained ones' (None when the run held none out): a held-out
        median well above the trained one is the memorisation gap of the validation loss, image by image."""
        held = [r.mean for r in self.rows if r.held_out]
        trained = [r.mean for r in self.rows if not r.held_out]
        if not held or not trained:
            return None
        return (f"{len(held)} images held out for the validation loss (never trained on): median loss "
                f"{float(np.median(held)):.4f} against {float(np.median(trained)):.4f} for the {len(trained)} "
                f"trained on")


@dataclass(frozen=True)
class PerImageReport:
    """What the faces show: the losses, the near-duplicate pairs (None when not asked for or cancelled) and the
    images themselves (uint8 (N, H, W, C), un-augmented, for thumbnails)."""

    losses: PerImageLosses
    duplicates: NearDuplicates | None
    images: np.ndarray


def load_training_data(run_name: str, data: DataConfig, *, should_stop: StopFn | None = None,
                       on_progress: Callable[[int, int], None] | None = None) -> ImageDataset:
    """The run's training images (its own data config); a source that is gone is one line naming it."""
    try:
        return load_dataset(data, on_progress=on_progress, cancel=should_stop)
    except DataSourceError as exc:
        raise DataSourceError(f"the training data of {run_name} cannot be loaded: {one_line(exc)}") from None


def per_image_report(checkpoint: str | Path, *, settings: LossSettings = LossSettings(), duplicates: bool = False,
                     device: str | torch.device = "cpu", should_stop: StopFn | None = None,
                     on_progress: Callable[[LossProgress], None] | None = None) -> PerImageReport:
    """Score every training image of a run (a run folder: its latest checkpoint; or a checkpoint file) and,
    with `duplicates`, list the near-duplicate pairs of its data. Cancelled (`should_stop`): the rows so far."""
    settings.validate()
    stop = should_stop or (lambda: False)
    report = on_progress or (lambda _p: None)
    path = Path(checkpoint)
    found = load_checkpoint(path, with_state=False)  # CheckpointError (one line) for a damaged or missing one
    model, diffusion, config = load_model(found.path, device=resolve_device(device), ema=True)
    dataset = load_training_data(_run_name(found.path), config.data, should_stop=stop,
                                 on_progress=lambda done, total: report(LossProgress("loading data", done, total)))
    x0 = dataset_images(dataset)  # (N, C, H, W) in [-1, 1]: centre crop, no flip
    labels = conditioning_labels(dataset.labels, len(dataset), config.model.num_classes)
    timesteps = fixed_timesteps(diffusion.num_timesteps, settings.timesteps)
    rows: list[ImageLoss] = []
    total = len(dataset)
    keys = [str(k) for k in dataset.keys]
    split = recorded_split(config.training, keys)
    held_out = frozenset(split.held_out) if split is not None else frozenset()
    for start, losses in fixed_noise_losses(model, diffusion, x0, keys, labels, timesteps, seed=settings.seed,
                                            batch_size=settings.batch_size, should_stop=stop):
        for j in range(losses.shape[0]):
            index = start + j
            rows.append(ImageLoss(index, keys[index], _class_name(dataset, index), float(losses[j].mean()),
                                  tuple(float(v) for v in losses[j]), held_out=index in held_out))
        report(LossProgress("scoring", len(rows), total))
    result = PerImageLosses(found.path, found.step, config.data.source, config.diffusion.objective,
                            config.diffusion.loss, timesteps, tuple(rows), total)
    pairs = None
    if duplicates and not stop():
        report(LossProgress("near-duplicates", 0, 1))
        pairs = near_duplicates(x0, tuple(str(k) for k in dataset.keys), include_flips=config.data.hflip)
        report(LossProgress("near-duplicates", 1, 1))
    return PerImageReport(result, pairs, dataset.uint8_images())


def _run_name(weights: Path) -> str:
    """The run a checkpoint file belongs to (its folder's name), else the file's name."""
    return shorten(weights.parent.parent.name if weights.parent.name == "checkpoints" else weights.name)


def _class_name(dataset: ImageDataset, index: int) -> str | None:
    if dataset.labels is None:
        return None
    label = int(dataset.labels[index])
    return dataset.classes[label] if 0 <= label < len(dataset.classes) else None


def losses_csv(losses: PerImageLosses) -> str:
    """The table as CSV, highest loss first: rank, index, image, class, mean loss, held out (1: held out for the
    validation loss, never trained on), then one column per t_k."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "index", "image", "class", "mean_loss", "held_out",
                     *(f"loss_t{t}" for t in losses.timesteps)])
    for rank, row in enumerate(losses.ranked(), start=1):
        writer.writerow([rank, row.index, row.key, row.label or "", f"{row.mean:.6g}", int(row.held_out),
                         *(f"{v:.6g}" for v in row.per_timestep)])
    return out.getvalue()


def duplicates_csv(found: NearDuplicates) -> str:
    """The near-duplicate pairs as CSV, closest first: both images, their RMS distance, mirrored or not."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["image_a", "image_b", "distance", "mirrored"])
    for pair in found.pairs:
        writer.writerow([pair.first_key, pair.second_key, f"{pair.distance:.6g}", int(pair.mirrored)])
    return out.getvalue()
