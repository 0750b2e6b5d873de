"""The guidance sweep of one model: guidance scale w → sample-quality metrics (issue 20, items 5-6).

One sampler at one NFE budget, one x_T for every w (drawn from `seed`), so the points differ only by w:

- classifier-free guidance (Ho & Salimans 2022) of a class-conditional model: the `count` samples are spread
  evenly over the classes (sample i asks for class i mod K of the chosen classes) and scored together against
  the real set, as the NFE sweep scores an unconditional model; their class faithfulness (the share whose
  nearest labelled real image carries the requested class, `evaluation.faithfulness`) is measured beside them.
- autoguidance (Karras et al. 2024) with a `guide` checkpoint of the same shape and data, for any model:
  D = D_guide + w (D_main - D_guide); a conditional model's samples are spread over the classes the same way.

w = 1 is the plain (conditional) model and w = 0 the unconditional one (CFG) or the guide itself (autoguidance);
larger w trades diversity (recall) for typicality (precision, faithfulness): the curve this sweep draws. Every
w > 0 other than 1 costs two network inputs per evaluation (`SamplingConfig.batch_factor`), not more steps.

The metrics are the NFE sweep's (`evaluation.score_samples`: SWD, precision/recall against `reference_count` real
images) and its cache file (`app.sweep.SweepCache`, one per checkpoint): a point's key holds the checkpoint's
and the guide's SHA-256, w, the sampler, its steps, the class set and every setting that changes its samples or
metrics, so a rerun or an added w costs only the missing points. The floor is the NFE sweep's real-vs-real row
(the same cache entry). Qt-free: the CLI's `sweep --guidance` and the Compare-samplers view call
`run_guidance_sweep`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ddpm_studio.app.chunked_sampling import final_images
from ddpm_studio.app.sampling import guide_mismatch, load_for_sampling
from ddpm_studio.app.sweep import (
    SweepCache,
    SweepSettings,
    file_sha256,
    floor_metrics,
    grid_key,
    reference_images,
    sweep_cache_dir,
    sweep_dataset,
)
from ddpm_studio.data.dataset import ImageDataset
from ddpm_studio.data.problems import DataSourceError
from ddpm_studio.engine import SAMPLERS, SamplingConfig, nfe, steps_for_nfe
from ddpm_studio.evaluation import EvaluationConfig, Protocol, prepare_reference, score_samples
from ddpm_studio.evaluation.faithfulness import FAITHFULNESS_EMBEDDING, FAITHFULNESS_K, class_faithfulness
from ddpm_studio.training.checkpoint import CheckpointError, list_checkpoints, resolve_checkpoint
from ddpm_studio.training.devices import resolve_device
from ddpm_studio.training.quality_monitor import dataset_images

__all__ = ["GUIDANCE_SCALES", "GuidanceSweepSettings", "GuidancePoint", "GuidanceProgress", "GuidanceSweepResult",
           "GuidanceSweepCancelled", "guide_candidates", "parse_scales", "run_guidance_sweep"]

GUIDANCE_SCALES: tuple[float, ...] = (0.0, 1.0, 1.5, 2.0, 3.0, 5.0)  # the scales of the issue
CLASSIFIER_FREE, AUTOGUIDANCE = "classifier-free", "autoguidance"


def parse_scales(text: str) -> tuple[float, ...]:
    """"0, 1,1.5" -> (0.0, 1.0, 1.5): guidance scales, each finite and >= 0. ValueError (one line) otherwise."""
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise ValueError(f"--guidance takes scales separated by commas, such as 0,1,2; got {text!r}") from None
    if not values:
        raise ValueError("--guidance needs at least one scale")
    _check_scales(values)
    return values


def _check_scales(scales: tuple[float, ...]) -> None:
    bad = [w for w in scales if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w)
           or w < 0]
    if bad:
        raise ValueError(f"guidance scales must be finite numbers >= 0 (0 = unconditional, 1 = the plain model), "
                         f"got {bad[0]!r}")


def guide_candidates(model: str | Path) -> list[tuple[str, Path]]:
    """Weaker versions of `model` to offer as its autoguidance guide (Karras et al. 2024 guide with an earlier
    checkpoint of the same training): (label, checkpoint) of the other checkpoints of its run, newest first;
    empty for a model with no other checkpoint beside it."""
    path = Path(model)
    try:
        folder = path / "checkpoints" if path.is_dir() else path.parent
        main = resolve_checkpoint(path).resolve()
        found = list_checkpoints(folder)
        run = folder.parent.name if folder.name == "checkpoints" else folder.name
        return [(f"{run}: step {step}", p) for step, p in reversed(found) if p.resolve() != main]
    except (CheckpointError, OSError):  # gone, unreadable, a name too long: nothing to offer
        return []


@dataclass(frozen=True)
class GuidanceSweepSettings:
    """What one guidance sweep samples and measures (every field enters the cache key of its points)."""

    scales: tuple[float, ...] = GUIDANCE_SCALES  # w, each >= 0
    method: str = "dpmpp_2m"  # one sampler (a SAMPLERS name)...
    budget: int = 20  # ...at one NFE budget (`steps_for_nfe`)
    count: int = 256  # samples per point, all from the same x_T, spread evenly over `classes`
    reference_count: int = 512  # real images the samples are measured against
    seed: int = 0  # x_T, the samplers' generators, the reference draw and the metrics' random choices
    batch_size: int = 64  # images per model call
    clip_x0: bool = True
    with_floor: bool = True  # also evaluate real vs real at the same sizes
    classes: tuple[str, ...] = ()  # the classes asked for (a conditional model's names); () = all of them

    def validate(self) -> None:
        """Raise ValueError with a one-line reason if a field is out of range."""
        if not self.scales:
            raise ValueError("give at least one guidance scale")
        _check_scales(self.scales)
        SAMPLERS.lookup(self.method)
        for name in ("budget", "count", "reference_count", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.count <= EvaluationConfig().k or self.reference_count <= EvaluationConfig().k:
            raise ValueError(f"count and reference_count must exceed k = {EvaluationConfig().k}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")

    def evaluation(self) -> EvaluationConfig:
        return EvaluationConfig(sample_count=self.count, reference_count=self.reference_count, seed=self.seed)


@dataclass(frozen=True)
class GuidancePoint:
    """One guidance scale: the metrics of its samples (plus "faithfulness" for a conditional model)."""

    scale: float  # w
    metrics: dict[str, float]
    seconds: float  # sampling time when it was computed
    evaluations: int  # network inputs per image: NFE × 2 when guiding (w not 0 or 1), else NFE
    cached: bool = False
    errors: dict[str, float] = field(default_factory=dict)  # bootstrap errors of `metrics` (none in old caches)


@dataclass(frozen=True)
class GuidanceProgress:
    """A snapshot for a progress bar: sampler steps (NFE) done of those this sweep still has to compute."""

    done_nfe: float
    total_nfe: int
    scale: float
    point: int  # 0-based index among the points to compute
    points: int


@dataclass(frozen=True)
class GuidanceSweepResult:
    checkpoint: str
    source: str
    mode: str  # CLASSIFIER_FREE | AUTOGUIDANCE
    guide: str | None  # the guide checkpoint (autoguidance)
    classes: tuple[str, ...]  # the classes the samples asked for; () for an unconditional model
    method: str
    steps: int
    nfe: int
    settings: GuidanceSweepSettings
    points: tuple[GuidancePoint, ...]
    floor: dict[str, float] | None = None
    cancelled: bool = False
    notes: tuple[str, ...] = field(default=())  # e.g. why class faithfulness is missing

    def point(self, scale: float) -> GuidancePoint | None:
        return next((p for p in self.points if p.scale == scale), None)

    def curve(self, metric: str) -> list[tuple[float, float]]:
        """(w, metric) points, by w."""
        return sorted((p.scale, p.metrics[metric]) for p in self.points if metric in p.metrics)

    def caption(self) -> str:
        """The protocol in one line: what was sampled and what it was measured against."""
        what = (f"autoguided by {Path(self.guide).name}" if self.mode == AUTOGUIDANCE else "classifier-free guidance")
        spread = f", spread over {len(self.classes)} classes" if self.classes else ""
        return (f"{self.settings.count} samples per w{spread} ({what}), {SAMPLERS.label(self.method)} "
                f"{self.steps} steps = {self.nfe} NFE, vs {self.settings.reference_count} real images of "
                f"{self.source} (seed {self.settings.seed})")

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "source": self.source, "mode": self.mode, "guide": self.guide,
                "classes": list(self.classes), "method": self.method, "steps": self.steps, "nfe": self.nfe,
                "settings": asdict(self.settings), "points": [asdict(p) for p in self.points],
                "floor": self.floor, "cancelled": self.cancelled, "notes": list(self.notes),
                "caption": self.caption()}


class GuidanceSweepCancelled(Exception):
    """Raised inside a point when the caller asked to stop; `run_guidance_sweep` returns `cancelled=True`."""


@dataclass(frozen=True)
class _Steering:
    """What the sweep steers with: the labels of every sample, the guide network and its hash."""

    mode: str
    labels: tuple[int, ...]  # one per sample (count values), () for an unconditional model
    classes: tuple[str, ...]  # names of the classes asked for
    guide: torch.nn.Module | None
    guide_sha: str | None
    guide_path: str | None


def _chosen_classes(model_classes: tuple[str, ...], asked: tuple[str, ...]) -> tuple[int, ...]:
    """Indices of the asked class names (all of the model's when none asked); ValueError for unknown ones."""
    if not asked:
        return tuple(range(len(model_classes)))
    if not model_classes:
        raise ValueError(f"class {asked[0]!r} asked of an unconditional model (it was trained without classes)")
    unknown = [c for c in asked if c not in model_classes]
    if unknown:
        raise ValueError(f"unknown class {unknown[0]!r}; the model's classes are {', '.join(model_classes[:12])}"
                         + (", ..." if len(model_classes) > 12 else ""))
    return tuple(model_classes.index(c) for c in dict.fromkeys(asked))


def _steering(loaded, settings: GuidanceSweepSettings, guide: str | Path | None, device: torch.device) -> _Steering:
    """Check the model can be guided as asked (one-line ValueError if not) and load the guide."""
    model_classes = tuple(loaded.config.data.classes) if loaded.config is not None else ()
    if guide is None and not model_classes:
        raise ValueError("a guidance sweep needs a class-conditional model (classifier-free guidance) or a guide "
                         "model (--guide CHECKPOINT, autoguidance); this model was trained without classes")
    chosen = _chosen_classes(model_classes, settings.classes)
    labels = tuple(chosen[i % len(chosen)] for i in range(settings.count)) if chosen else ()
    names = tuple(model_classes[c] for c in chosen)
    if guide is None:
        return _Steering(CLASSIFIER_FREE, labels, names, None, None, None)
    weak = load_for_sampling(guide, device)
    problem = ("a published model has no training run to compare with" if loaded.config is None or weak.config is None
               else guide_mismatch(loaded.config, weak.config))
    if problem is not None:
        raise ValueError(f"{Path(guide).name} cannot guide this model: {problem}")
    return _Steering(AUTOGUIDANCE, labels, names, weak.model, file_sha256(weak.weights), str(weak.weights))


def _load_data(data: str | ImageDataset, shape: tuple[int, ...], classes: tuple[str, ...]
               ) -> tuple[ImageDataset, str | None]:
    """The data set, labelled in the model's class order when it can be (else unlabelled, with the reason)."""
    if classes and not isinstance(data, ImageDataset):
        try:
            return sweep_dataset(data, shape[1], shape[0], classes), None
        except DataSourceError as exc:
            note = f"no class faithfulness: the data cannot be labelled with the model's classes ({exc})"
            return sweep_dataset(data, shape[1], shape[0]), note
    dataset = sweep_dataset(data, shape[1], shape[0])
    return dataset, (None if not classes or dataset.labels is not None else "no class faithfulness: unlabelled data")


def run_guidance_sweep(checkpoint: str | Path, data: str | ImageDataset, settings: GuidanceSweepSettings | None = None,
                       *, guide: str | Path | None = None, device: str | torch.device = "cpu",
                       cache_dir: Path | None = None, use_cache: bool = True, cached_only: bool = False,
                       should_stop: Callable[[], bool] | None = None,
                       on_progress: Callable[[GuidanceProgress], None] | None = None,
                       on_point: Callable[[GuidancePoint], None] | None = None) -> GuidanceSweepResult:
    """Sample and evaluate every guidance scale of `settings` for the model at `checkpoint` (a file or run
    folder) against images of `data` (a source spec or a loaded data set of the model's image shape):
    classifier-free guidance of a conditional model, or autoguidance away from `guide` (module docstring).

    ValueError (one line) for an unconditional model without a guide, a guide of another shape or data, an
    unknown class, a budget the sampler cannot spend. Cached points are read, not recomputed (`use_cache=False`
    recomputes; `cached_only=True` computes nothing). `should_stop()` -> True returns the finished points with
    `cancelled=True`."""
    settings = settings or GuidanceSweepSettings()
    settings.validate()
    stop = should_stop or (lambda: False)
    device = resolve_device(device)
    loaded = load_for_sampling(checkpoint, device)
    model, diffusion, shape, path = loaded.model, loaded.diffusion, loaded.shape, loaded.weights
    T = diffusion.num_timesteps
    steps = steps_for_nfe(settings.method, settings.budget, T)
    cost = nfe(settings.method, steps, T)
    steering = _steering(loaded, settings, guide, device)
    model_classes = tuple(loaded.config.data.classes) if loaded.config is not None else ()
    dataset, note = _load_data(data, shape, model_classes)
    cache = SweepCache(cache_dir or sweep_cache_dir(), path)
    evaluation = settings.evaluation()
    common = dict(source=dataset.spec, images=len(dataset), shape=shape, count=settings.count,
                  reference_count=settings.reference_count, seed=settings.seed, evaluation=evaluation.to_dict())
    faithful = note is None and bool(steering.labels)
    scales = tuple(sorted(set(float(w) for w in settings.scales)))

    def key(w: float) -> str:
        return cache.key(kind="guidance", mode=steering.mode, guide=steering.guide_sha, scale=w,
                         method=settings.method, steps=steps, labels=list(steering.labels),
                         classes=list(steering.classes), clip_x0=settings.clip_x0, batch_size=settings.batch_size,
                         faithfulness=[FAITHFULNESS_EMBEDDING, FAITHFULNESS_K] if faithful else None,
                         **grid_key(settings.method), **common)

    def evaluations(w: float) -> int:
        config = SamplingConfig(guidance=w, labels=steering.labels[:1])
        return cost * config.batch_factor(guide=steering.guide is not None)

    points: dict[float, GuidancePoint] = {}
    todo = []
    for w in scales:
        hit = cache.get_cell(key(w)) if use_cache else None
        if hit is not None:
            points[w] = GuidancePoint(w, dict(hit["metrics"]), float(hit["seconds"]), evaluations(w), cached=True,
                                      errors=dict(hit.get("errors") or {}))
            if on_point is not None:
                on_point(points[w])
        else:
            todo.append(w)

    def result(cancelled: bool, floor: dict[str, float] | None) -> GuidanceSweepResult:
        return GuidanceSweepResult(str(path), dataset.spec, steering.mode, steering.guide_path, steering.classes,
                                   settings.method, steps, cost, settings,
                                   tuple(points[w] for w in scales if w in points), floor, cancelled,
                                   (note,) if note else ())

    if cached_only:
        return result(False, cache.get_floor(cache.key(kind="floor", **common)) if settings.with_floor else None)
    reference = prepare_reference(reference_images(dataset, settings.reference_count, settings.seed), evaluation
                                  ) if todo else None
    pool = dataset_images(dataset) if faithful and todo else None
    total, done = cost * len(todo), 0.0
    for index, w in enumerate(todo):
        def tick(batch_count: int, last, w=w, index=index) -> None:
            nonlocal done
            done += batch_count / settings.count / last.num_steps * cost
            if on_progress is not None:
                on_progress(GuidanceProgress(done, total, w, index, len(todo)))

        config = SamplingConfig(method=settings.method, steps=steps, clip_x0=settings.clip_x0, seed=settings.seed,
                                count=settings.count, labels=steering.labels, guidance=w)
        started = time.perf_counter()
        with torch.inference_mode():
            samples = final_images(model, diffusion, shape, config, batch_size=settings.batch_size, device=device,
                                   should_stop=stop, on_step=tick, guide=steering.guide)
        if samples is None:
            return result(True, None)
        seconds = time.perf_counter() - started
        protocol = Protocol(settings.count, settings.method, steps, f"a random subset of {dataset.spec}",
                            int(reference.images.shape[0]), settings.seed)
        score = score_samples(samples, reference, protocol, evaluation)  # the faces' one score
        metrics, errors = score.values(), score.errors()
        if pool is not None:
            requested = torch.tensor(steering.labels)
            metrics["faithfulness"] = class_faithfulness(samples, requested, pool, dataset.labels,
                                                         len(model_classes)).share
        cache.put(key(w), {"scale": w, "steps": steps, "nfe": cost, "metrics": metrics, "errors": errors,
                           "seconds": seconds})
        points[w] = GuidancePoint(w, metrics, seconds, evaluations(w), errors=errors)
        if on_point is not None:
            on_point(points[w])
    floor = (floor_metrics(dataset, _as_sweep(settings), cache, common, use_cache)
             if settings.with_floor and not stop() else None)
    return result(stop(), floor)


def _as_sweep(settings: GuidanceSweepSettings) -> SweepSettings:
    """The NFE sweep's settings of the same sizes (its floor row is shared with this sweep)."""
    return SweepSettings(count=settings.count, reference_count=settings.reference_count, seed=settings.seed)
