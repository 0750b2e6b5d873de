"""The EMA sweep of one run with post-hoc EMA snapshots (`app.posthoc`): EMA length σ_rel → sample-quality metrics.

EDM2 (Karras et al. 2024, fig. 5) found the best EMA length far from the usual default and moving with the model
and data; this sweep measures it for a user's run. Every length is sampled from one x_T with one sampler
(`EvaluationSettings`: method, steps, count, seed; a class-conditional model's samples ask for classes in its
data's proportions, evaluation/class_mix.py), so the points differ by σ_rel only, and scored with the
product's evaluation (`app.evaluation.evaluate_images`: SWD, precision / recall, memorisation, against the held-out
reference, beside the real-vs-real floor). The best length is the one with the lowest SWD (the quality monitor's
BEST_METRIC). Qt-free: `ddpm-studio ema-sweep` calls `run_ema_sweep`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ddpm_studio.app.chunked_sampling import final_images
from ddpm_studio.app.evaluation import (
    EvaluationCancelled,
    EvaluationSettings,
    data_class_mix,
    evaluate_images,
    reference_data,
)
from ddpm_studio.app.posthoc import posthoc_folder, posthoc_state
from ddpm_studio.app.sampling import load_for_sampling
from ddpm_studio.engine import SamplingConfig
from ddpm_studio.evaluation.class_mix import CLASSES_AS_DATA
from ddpm_studio.training.checkpoint import read_checkpoint_config, resolve_checkpoint
from ddpm_studio.training.devices import resolve_device
from ddpm_studio.training.posthoc_ema import reconstructable_range, solve_for_run
from ddpm_studio.training.quality_monitor import BEST_METRIC

__all__ = ["EMA_SWEEP_LENGTHS", "EmaSweepPoint", "EmaSweepResult", "parse_lengths", "run_ema_sweep"]

EMA_SWEEP_LENGTHS: tuple[float, ...] = (0.02, 0.05, 0.1, 0.15, 0.2)


def parse_lengths(text: str) -> tuple[float, ...]:
    """"0.05, 0.1" -> (0.05, 0.1); ValueError (one line) for anything that is not a list of numbers."""
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise ValueError(f"--lengths takes EMA lengths sigma_rel separated by commas, such as 0.05,0.1; "
                         f"got {text!r}") from None
    if not values:
        raise ValueError("--lengths needs at least one EMA length")
    return values


@dataclass(frozen=True)
class EmaSweepPoint:
    sigma_rel: float
    step: int  # the snapshot step reconstructed
    metrics: dict[str, float]
    seconds: float


@dataclass(frozen=True)
class EmaSweepResult:
    model: str
    source: str
    settings: EvaluationSettings
    points: tuple[EmaSweepPoint, ...]
    floor: dict[str, float]
    reconstructable: tuple[float, float]

    @property
    def best(self) -> EmaSweepPoint:
        return min(self.points, key=lambda p: p.metrics[BEST_METRIC])

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "source": self.source, "settings": asdict(self.settings),
                "metric": BEST_METRIC, "best_sigma_rel": self.best.sigma_rel,
                "reconstructable": list(self.reconstructable), "floor": self.floor,
                "points": [asdict(p) for p in self.points]}


def run_ema_sweep(checkpoint: str | Path, lengths: Sequence[float], settings: EvaluationSettings | None = None, *,
                  device: str | torch.device = "auto", on_point: Callable[[EmaSweepPoint], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> EmaSweepResult:
    """Sample and score `checkpoint`'s run at each EMA length (all from one x_T: the points differ by σ_rel only).
    Every length is checked before any sampling (PosthocError names the reconstructable range)."""
    settings = settings or EvaluationSettings()
    settings.validate()
    if not lengths:
        raise ValueError("give at least one EMA length")
    name = resolve_checkpoint(Path(checkpoint))
    config, step = read_checkpoint_config(name)
    for sigma_rel in lengths:  # a bad length fails before minutes of sampling (the coefficients only, no weights)
        solve_for_run(posthoc_folder(name), sigma_rel, step)
    device = resolve_device(device)
    points = []
    source = ""
    asked = data_class_mix(config, settings.count)  # a conditional model's classes as its data has them
    floor: dict[str, float] = {}
    for sigma_rel in lengths:
        started = time.perf_counter()
        loaded = load_for_sampling(checkpoint, device, ema_length=sigma_rel)
        source = loaded.data_source or ""
        reference_data(source, loaded.shape[1], loaded.shape[0], settings)  # a bad data set is said before sampling
        sampling = SamplingConfig(method=settings.method, steps=settings.steps, clip_x0=settings.clip_x0,
                                  seed=settings.seed, count=settings.count, labels=asked)
        with torch.inference_mode():
            images = final_images(loaded.model, loaded.diffusion, loaded.shape, sampling,
                                  batch_size=settings.batch_size, device=device,
                                  should_stop=should_stop or (lambda: False))
        if images is None:
            raise EvaluationCancelled("EMA sweep cancelled")
        report = evaluate_images(images, source, settings, label=f"sigma_rel {sigma_rel:g}",
                                 sampler=settings.method, steps=settings.steps,
                                 classes=CLASSES_AS_DATA if asked else "")
        floor = report.floor.scalars() if report.floor is not None else {}  # at the samples' own counts
        point = EmaSweepPoint(float(sigma_rel), posthoc_state(checkpoint, sigma_rel)[1], report.report.scalars(),
                              time.perf_counter() - started)
        points.append(point)
        if on_point is not None:
            on_point(point)
    span = reconstructable_range(posthoc_folder(name), upto_step=step)
    return EmaSweepResult(f"{posthoc_folder(name).parent.name} ({name.name})", source, settings, tuple(points),
                          floor, span)
