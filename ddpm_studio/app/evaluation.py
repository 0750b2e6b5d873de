"""Evaluate a model (or a folder of its images) against a data set, beside the real-vs-real floor.

One use case for every face: `ddpm-studio eval`, the sampler view's Evaluate action and its nearest-neighbour
view. `evaluate_model` resolves MODEL through the catalogue (a run, a checkpoint file or "demo"), samples
`count` images through the engine's `sample()` (its EMA weights, one seeded x_T, in batches) or takes images
given to it, and scores them with `ddpm_studio.evaluation` (SWD, precision/recall, memorisation against the
training images) against `reference_count` real images. The reference follows the run's held-out rule
(`training.quality_monitor.held_out_spec`): a built-in set is drawn again with seed + 1000, so no reference
image is a training image; a folder or archive is its own reference (a fixed random subset). The floor is the
same evaluation of real images at the same sizes (`count` fresh images vs the same reference, memorisation
against the same training images), so every metric is read beside what real data scores.

The prepared reference, the training images and the floor are cached in this process per (source, image size,
channels, sizes, seed): the Evaluate action and the nearest-neighbour view reuse them. Progress goes to a
callback (stage, done, total); `should_stop` cancels between sampler steps (EvaluationCancelled).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ddpm_studio.app.catalogue import model_name, resolve_model
from ddpm_studio.app.chunked_sampling import final_images
from ddpm_studio.app.diffusers_model import is_diffusers_folder, read_shape
from ddpm_studio.app.sampling import guide_mismatch, load_for_sampling
from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.dataset import load_dataset
from ddpm_studio.data.transforms import uint8_to_float
from ddpm_studio.engine import SAMPLERS, SamplingConfig
from ddpm_studio.evaluation import (
    MIN_TRUSTED_SAMPLES,
    EvaluationConfig,
    EvaluationReport,
    Protocol,
    evaluate,
    floor_note,
    format_with_error,
    memorisation,
    score_samples,
)
from ddpm_studio.evaluation.class_mix import CLASSES_AS_DATA, class_counts, class_mix
from ddpm_studio.evaluation.faithfulness import class_faithfulness
from ddpm_studio.training.checkpoint import load_checkpoint, load_model, resolve_checkpoint
from ddpm_studio.training.config import RunConfig
from ddpm_studio.training.devices import resolve_device
from ddpm_studio.training.quality_monitor import QualityData, dataset_images, held_out_spec, prepare_quality_data

__all__ = ["ClassEvaluation", "ClassScore", "evaluate_classes", "ScoreRow", "format_with_error", "MIN_TRUSTED_SAMPLES",
           "EvaluationSettings", "EvaluationProgress", "ModelEvaluation", "EvaluationCancelled", "Neighbours",
           "evaluate_model", "evaluate_images", "reference_data", "nearest_neighbours", "load_sample_folder",
           "HELD_OUT_RULE"]

HELD_OUT_RULE = ("built-in sets: the same set drawn with seed + 1000 (no training image); folders and archives: "
                 "a fixed random subset of their own images")
_CACHE_SIZE = 4  # prepared references kept in this process
_CACHE: OrderedDict[tuple, QualityData] = OrderedDict()


@dataclass(frozen=True)
class EvaluationSettings:
    """What one evaluation samples and measures. The defaults keep the demo model's evaluation under a minute
    on 2 CPU cores (sampling is most of it: 128 images × 20 sampler steps)."""

    count: int = 128  # samples scored (and real images in the floor's sample part)
    steps: int = 20  # sampler steps
    # a SAMPLERS name. DPM-Solver++(2M) at 20 steps scores a model, not its sampler: on the demo model it is
    # within 0.2 SWD of DDIM at 100 steps, where DDIM at 20 loses 0.3 of recall (issue 10, README's NFE table)
    method: str = "dpmpp_2m"
    reference_count: int = 512  # real images the samples are measured against
    seed: int = 0  # x_T of the samples and every random choice of the metrics
    batch_size: int = 64  # images per model call
    clip_x0: bool = True

    def validate(self) -> None:
        """Raise ValueError with a one-line reason if a field is out of range."""
        SAMPLERS.lookup(self.method)
        for name in ("count", "steps", "reference_count", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.evaluation().validate()

    def evaluation(self) -> EvaluationConfig:
        return EvaluationConfig(sample_count=self.count, reference_count=self.reference_count, seed=self.seed)


@dataclass(frozen=True)
class EvaluationProgress:
    stage: str  # "loading data", "sampling", "scoring"
    done: int
    total: int


class EvaluationCancelled(Exception):
    """The caller asked to stop (between sampler steps)."""


@dataclass(frozen=True)
class ModelEvaluation:
    """The samples' report and the floor's, side by side."""

    model: str  # a caption: 'demo model (step 5000)', a run, or the samples folder
    source: str  # the data set measured against
    held_out: str | None  # the reference's built-in spec, None when it is a subset of the data itself
    settings: EvaluationSettings
    report: EvaluationReport  # values and their bootstrap errors (report.errors)
    floor: EvaluationReport | None  # None when the data set is too small for one; else under `protocol` too
    sampling_seconds: float
    seconds: float
    protocol: Protocol | None = None  # what was measured (evaluation/protocol.py); the floor shares its counts

    def rows(self) -> list[ScoreRow]:
        """One ScoreRow per scalar, in report order: value ± error beside the floor ± its error, and the note a
        value close to (or better than) its floor gets (score.floor_note)."""
        floor = self.floor.scalars() if self.floor is not None else {}
        floor_errors = self.floor.errors if self.floor is not None else {}
        errors = self.report.errors
        return [ScoreRow(name, value, errors.get(name), floor.get(name), floor_errors.get(name),
                         floor_note(name, value, errors.get(name), floor.get(name), floor_errors.get(name)))
                for name, value in self.report.scalars().items()]

    def warning(self) -> str | None:
        """Why these numbers need care: fewer than MIN_TRUSTED_SAMPLES samples."""
        if self.report.sample_count < MIN_TRUSTED_SAMPLES:
            return (f"only {self.report.sample_count} samples: SWD grows as the count falls and its error is large; "
                    f"compare it only with scores of {self.report.sample_count} samples, or sample "
                    f"{MIN_TRUSTED_SAMPLES} or more")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "source": self.source, "held_out": self.held_out, "held_out_rule": HELD_OUT_RULE,
                "protocol": self.protocol.to_dict() if self.protocol is not None else None,
                "settings": asdict(self.settings), "report": self.report.to_dict(),
                "floor": self.floor.to_dict() if self.floor is not None else None,
                "notes": {row.metric: row.note for row in self.rows() if row.note},
                "warning": self.warning(), "sampling_seconds": self.sampling_seconds, "seconds": self.seconds}


@dataclass(frozen=True)
class ScoreRow:
    """One metric of an evaluation beside its floor (errors: bootstrap standard errors, None when unknown)."""

    metric: str
    value: float
    error: float | None
    floor: float | None
    floor_error: float | None
    note: str | None


ProgressFn = Callable[[EvaluationProgress], None]


def reference_data(source: str, image_size: int, channels: int, settings: EvaluationSettings,
                   on_progress: ProgressFn | None = None) -> QualityData:
    """The prepared reference, training images and floor of a data set at one size (cached in this process)."""
    key = (source, image_size, channels, settings.count, settings.reference_count, settings.seed)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    if on_progress is not None:
        on_progress(EvaluationProgress("loading data", 0, 1))
    data = DataConfig(source=source, image_size=image_size, channels=channels, hflip=False, labels="none")
    found = prepare_quality_data(data, load_dataset(data), settings.evaluation())
    _CACHE[key] = found
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    if on_progress is not None:
        on_progress(EvaluationProgress("loading data", 1, 1))
    return found


def _sample(checkpoint: Path, settings: EvaluationSettings, device: torch.device, on_progress: ProgressFn | None,
            should_stop: Callable[[], bool], *, labels: tuple[int, ...] = (), guidance: float = 1.0,
            guide: Path | None = None, image_labels: tuple[int, ...] = ()) -> torch.Tensor:
    """`count` samples (N, C, H, W) in [-1, 1] of the EMA weights (or a diffusers model), from one x_T drawn from
    `seed`, each asked for class `labels[i // count]` (one block of `count` per label), or sample i for class
    `image_labels[i]` (`count` of them), or unconditional (neither), with guidance `guidance` (classifier-free, or
    autoguidance away from the `guide` checkpoint)."""
    loaded = load_for_sampling(checkpoint, device)
    model, diffusion, config, shape = loaded.model, loaded.diffusion, loaded.config, loaded.shape
    weak = None
    if guide is not None:
        weak, _, guide_config = load_model(resolve_checkpoint(guide), device=device, ema=True)
        weak.eval()
        problem = "a published model has no training run to compare with" if config is None else (
            guide_mismatch(config, guide_config))
        if problem is not None:
            raise ValueError(f"{Path(guide).name} cannot guide this model: {problem}")
    per_image = image_labels or tuple(label for label in labels for _ in range(settings.count))
    sampling = SamplingConfig(method=settings.method, steps=settings.steps, clip_x0=settings.clip_x0,
                              seed=settings.seed, count=len(per_image) or settings.count, labels=per_image,
                              guidance=guidance)
    done = 0

    def step(batch_count: int, last) -> None:
        nonlocal done
        done += batch_count
        if on_progress is not None:
            on_progress(EvaluationProgress("sampling", done, sampling.count * last.num_steps))

    with torch.inference_mode():
        images = final_images(model, diffusion, shape, sampling, batch_size=settings.batch_size, device=device,
                              should_stop=should_stop, on_step=step, guide=weak)
    if images is None:
        raise EvaluationCancelled("evaluation cancelled")
    return images


def load_sample_folder(folder: str | Path, image_size: int, channels: int) -> torch.Tensor:
    """The images of a folder (or .zip) as (N, C, H, W) in [-1, 1] at the model's size (centre crop, no flip)."""
    data = DataConfig(source=str(folder), image_size=image_size, channels=channels, hflip=False, labels="none")
    return dataset_images(load_dataset(data))


def evaluate_images(samples: torch.Tensor | np.ndarray, source: str, settings: EvaluationSettings | None = None, *,
                    label: str = "samples", on_progress: ProgressFn | None = None,
                    sampling_seconds: float = 0.0, sampler: str | None = None,
                    steps: int | None = None, classes: str = "") -> ModelEvaluation:
    """Score given images, float (N, C, H, W) in [-1, 1] or uint8 (N, H, W, C), against `source` and beside the
    floor at the same sizes (`settings.count` is taken as N), through the shared `score_samples` under a
    protocol naming `sampler` at `steps` (None: images whose sampler is not known here) and what the samples
    asked for (`classes`: "" none, or class_mix.CLASSES_AS_DATA)."""
    started = time.perf_counter()
    if isinstance(samples, np.ndarray):
        samples = uint8_to_float(torch.from_numpy(samples).permute(0, 3, 1, 2).contiguous())
    settings = EvaluationSettings(**{**asdict(settings or EvaluationSettings()), "count": int(samples.shape[0])})
    settings.validate()
    _, channels, size, _ = samples.shape
    data = reference_data(source, size, channels, settings, on_progress)
    if on_progress is not None:
        on_progress(EvaluationProgress("scoring", 0, 1))
    protocol = data.protocol(settings.count, sampler, steps, settings.seed, classes)
    score = score_samples(samples, data.reference, protocol, settings.evaluation(), data.training)
    if on_progress is not None:
        on_progress(EvaluationProgress("scoring", 1, 1))
    floor = data.floor.report if data.floor is not None else None
    return ModelEvaluation(label, source, data.held_out, settings, score.report, floor, sampling_seconds,
                           time.perf_counter() - started + sampling_seconds, protocol)


def evaluate_model(model: str | Path, data: str | None = None, settings: EvaluationSettings | None = None, *,
                   samples_dir: str | Path | None = None, runs_dir: Path | None = None,
                   device: str | torch.device = "auto", on_progress: ProgressFn | None = None,
                   should_stop: Callable[[], bool] | None = None, guidance: float = 1.0,
                   guide: str | Path | None = None) -> ModelEvaluation:
    """Sample MODEL (a run, checkpoint file or "demo"; or take the images of `samples_dir` at its size) and score
    the samples against `data` (default: the model's training data). `guide` (a weaker checkpoint or run) and
    `guidance` sample with autoguidance."""
    settings = settings or EvaluationSettings()
    settings.validate()
    resolved = resolve_model(model, runs_dir)
    if is_diffusers_folder(resolved):  # a published model: no training data of its own to compare against
        if data is None:
            raise ValueError(f"{Path(resolved).name} is a published model: give the images to compare against "
                             "(--data FOLDER)")
        checkpoint, source = Path(resolved), data
        channels, size, _ = read_shape(resolved)
    else:
        checkpoint = resolve_checkpoint(resolved)
        config = load_checkpoint(checkpoint, with_state=False).config
        source = data or config.data.source
        size, channels = config.data.image_size, config.data.channels
    started = time.perf_counter()
    sampler, steps, classes = settings.method, settings.steps, ""
    if samples_dir is not None:
        samples = load_sample_folder(samples_dir, size, channels)
        label, sampler, steps = str(samples_dir), None, None
    else:
        reference_data(source, size, channels, settings, on_progress)  # fail on bad data before sampling
        weak = None if guide is None else resolve_model(guide, runs_dir)
        asked = () if is_diffusers_folder(resolved) else data_class_mix(config, settings.count)
        samples = _sample(checkpoint, settings, resolve_device(device), on_progress, should_stop or (lambda: False),
                          guidance=guidance, guide=weak, image_labels=asked)
        label = model_name(resolve_model(model, runs_dir))
        if weak is not None:
            label += f", autoguided by {model_name(weak)} at w = {guidance:g}"
        classes = "" if not asked else (  # classifier-free guidance of the asked classes, when w != 1
            CLASSES_AS_DATA if guidance == 1.0 or weak is not None else f"{CLASSES_AS_DATA}, w = {guidance:g}")
    return evaluate_images(samples, source, settings, label=label, on_progress=on_progress,
                           sampling_seconds=time.perf_counter() - started, sampler=sampler, steps=steps,
                           classes=classes)


@dataclass(frozen=True)
class Neighbours:
    """One sample's nearest training images (uint8 (k, H, W, C)), distances, mirror flags and the ratio test."""

    images: np.ndarray
    distances: tuple[float, ...]  # RMS pixel distance in [-1, 1] units, closest first
    mirrored: tuple[bool, ...]
    indices: tuple[int, ...]
    ratio: float  # d(NN_1) / mean of the n nearest (Carlini et al. 2023)
    memorised: bool  # ratio <= threshold
    threshold: float


def nearest_neighbours(image: np.ndarray, source: str, count: int = 3,
                       settings: EvaluationSettings | None = None) -> Neighbours:
    """The `count` nearest training images of one sample, uint8 (H, W, C), with the memorisation ratio test."""
    settings = settings or EvaluationSettings()
    sample_ = uint8_to_float(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].contiguous())
    data = reference_data(source, sample_.shape[-1], sample_.shape[1], settings)
    assert data.training is not None
    config = settings.evaluation()
    result = memorisation(sample_, data.training, threshold=config.memorisation_threshold,
                          neighbours=config.memorisation_neighbours, show=count, include_flips=config.include_flips)
    indices = result.indices[0]
    images = data.training[indices]
    flip = result.mirrored[0]
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)  # show the match as it matched
    uint8 = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return Neighbours(uint8, tuple(float(d) for d in result.distances[0]), tuple(bool(m) for m in flip),
                      tuple(int(i) for i in indices), float(result.ratio[0]), bool(result.memorised[0]),
                      config.memorisation_threshold)


@dataclass(frozen=True)
class ClassScore:
    """One class's samples against that class's real images."""

    name: str
    report: EvaluationReport | None  # SWD, precision, recall; None when the class has too few real images
    reference_count: int  # real images of the class measured against
    faithfulness: float  # share of the class's samples whose nearest real images carry the class


@dataclass(frozen=True)
class ClassEvaluation:
    """Per-class scores and class faithfulness of a conditional model at one guidance scale."""

    model: str
    source: str
    guidance: float
    settings: EvaluationSettings  # `count` samples per class
    classes: tuple[ClassScore, ...]
    faithfulness: float  # over every sample
    real_faithfulness: float | None  # held-out real images scored the same way (the embedding's ceiling)
    k: int  # neighbours voting
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "source": self.source, "guidance": self.guidance,
                "settings": asdict(self.settings), "faithfulness": self.faithfulness,
                "real_faithfulness": self.real_faithfulness, "k": self.k, "seconds": self.seconds,
                "classes": [{"name": c.name, "faithfulness": c.faithfulness, "reference_count": c.reference_count,
                             "metrics": c.report.scalars() if c.report is not None else None} for c in self.classes]}


def data_class_mix(config: RunConfig, count: int) -> tuple[int, ...]:
    """The classes `count` scored samples of a class-conditional model ask for: its training data's proportions
    (evaluation/class_mix.py); () for an unconditional model. Data that is no longer at hand (moved, deleted)
    counts every class alike."""
    classes = config.data.classes
    if not classes or not config.model.num_classes:
        return ()
    labels = "auto" if config.data.labels == "none" else config.data.labels
    data = DataConfig(source=config.data.source, image_size=config.data.image_size, channels=config.data.channels,
                      hflip=False, labels=labels, classes=classes)
    try:
        found = load_dataset(data).labels
    except (OSError, ValueError):
        found = None
    counts = class_counts(found, len(classes)) if found is not None else (1,) * len(classes)
    return class_mix(count, counts if sum(counts) else (1,) * len(classes))


def _labelled_images(source: str, config, classes: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, C, H, W) in [-1, 1], labels (N,)) of a data source, labelled in the run's class order."""
    labels = "auto" if config.data.labels == "none" else config.data.labels
    data = DataConfig(source=source, image_size=config.data.image_size, channels=config.data.channels, hflip=False,
                      labels=labels, classes=classes)
    dataset = load_dataset(data)
    assert dataset.labels is not None  # classes given: load_dataset refused unlabelled data
    return dataset_images(dataset), dataset.labels


def evaluate_classes(model: str | Path, settings: EvaluationSettings | None = None, *, guidance: float = 1.0,
                     guide: str | Path | None = None, runs_dir: Path | None = None, device: str | torch.device = "auto",
                     on_progress: ProgressFn | None = None,
                     should_stop: Callable[[], bool] | None = None) -> ClassEvaluation:
    """Sample `settings.count` images of every class of a conditional MODEL at guidance `guidance`; score each
    class's samples against that class's real images (held out for a built-in set) and the class faithfulness
    of all of them against the training images (evaluation/faithfulness.py); with `guide`, `guidance` is the
    autoguidance scale. ValueError for an unconditional model."""
    settings = settings or EvaluationSettings()
    settings.validate()
    started = time.perf_counter()
    checkpoint = resolve_checkpoint(resolve_model(model, runs_dir))
    config = load_checkpoint(checkpoint, with_state=False).config
    classes = config.data.classes
    if not classes:
        raise ValueError("per-class scores need a class-conditional model; this one was trained without classes")
    if on_progress is not None:
        on_progress(EvaluationProgress("loading data", 0, 1))
    pool, pool_labels = _labelled_images(config.data.source, config, classes)
    held = held_out_spec(config.data.source, settings.reference_count)
    real, real_labels = _labelled_images(held, config, classes) if held is not None else (pool, pool_labels)
    samples = _sample(checkpoint, settings, resolve_device(device), on_progress, should_stop or (lambda: False),
                      labels=tuple(range(len(classes))), guidance=guidance,
                      guide=None if guide is None else resolve_model(guide, runs_dir))
    requested = torch.arange(len(classes)).repeat_interleave(settings.count)
    if on_progress is not None:
        on_progress(EvaluationProgress("scoring", 0, len(classes)))
    faithful = class_faithfulness(samples, requested, pool, pool_labels, len(classes))
    floor = (class_faithfulness(real, real_labels, pool, pool_labels, len(classes)).share
             if held is not None else None)
    scores = []
    for c, name in enumerate(classes):
        mine = real[real_labels == c]
        report = None
        if mine.shape[0] > 3 and settings.count > 3:
            evaluation = EvaluationConfig(sample_count=settings.count, reference_count=mine.shape[0],
                                          seed=settings.seed)
            report = evaluate(samples[requested == c], mine, None, evaluation)
        scores.append(ClassScore(name, report, int(mine.shape[0]), faithful.per_class[c]))
        if on_progress is not None:
            on_progress(EvaluationProgress("scoring", c + 1, len(classes)))
    return ClassEvaluation(model_name(resolve_model(model, runs_dir)), config.data.source, guidance, settings,
                           tuple(scores), faithful.share, floor, faithful.k, time.perf_counter() - started)
