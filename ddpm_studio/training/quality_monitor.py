"""Sample quality over training, live: the run evaluates its EMA model now and then, on a fixed held-out set.

What is measured: `metrics_count` samples (`metrics_sampler`, DPM-Solver++(2M) by default, at
`metrics_sampler_steps` steps; deterministic) of the EMA weights from one fixed noise seed, so successive points
differ only by the weights (a class-conditional model's samples ask for classes in the data's proportions,
unguided: evaluation/class_mix.py), scored by `ddpm_studio.evaluation` (multi-scale SWD, precision/recall in the
download-free embedding, the memorisation ratio test against the training images) against
`metrics_reference_count` real images. The held-out rule (`held_out_spec`): for a built-in set the reference is
the same set drawn with seed + HELD_OUT_SEED_OFFSET, so no image is one the model trained on; a folder or
archive has no images to spare (the Trainer trains on all of them), so the reference is a fixed random subset of
the training images (then the memorisation check is what sees copying). Every score goes through
`evaluation.score_samples` under the curve's `Protocol` (counts, sampler, steps, reference), with bootstrap
errors; the floor is `evaluation.floor_score`: `metrics_count` real images outside the reference (fresh held-out
images, or a folder's images besides its reference: `reference_split` shrinks the reference rather than the
floor) scored the same way, so the floor always has the samples' counts (issue 21). A built-in set's floor
takes its error from the spread over FLOOR_DRAWS disjoint held-out draws (a folder's: the bootstrap).

When (`MetricsCadence`, like the previews): every `metrics_every_steps` steps, else as often as keeps the
evaluations within `metrics_time_share` of the training time (time_share.py). Before the first, its cost is
estimated from the step time (a sampler step is one forward pass, about a third of a training step on the same
batch size) plus EVALUATION_ESTIMATE_S.

Stored with the run: `metrics.jsonl` (atomic appends, one JSON object per line: the floor once, with
"kind": "floor", then "kind": "ema" points with step, time, wall, seconds and metrics; since issue 21 each line
also has "errors" (bootstrap standard errors of the metrics) and "protocol" (Protocol.to_dict); older lines
without them still load) and `best.json` naming the step whose samples scored best by BEST_METRIC; the Trainer
writes a checkpoint at that step and never prunes it. A resume drops the points after the checkpoint it starts
from and keeps the stored curve's cadence (the interval after its last point); a resumed or extended run scores
its last step when the run has a curve at all. Rank 0 of a single process only:
under DDP the monitor is off (its best-checkpoint save would need every rank).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ddpm_studio.atomic import atomic_append, atomic_write_text
from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.dataset import ImageDataset, load_dataset
from ddpm_studio.data.synthetic import BUILTIN_PREFIX, parse_builtin_spec
from ddpm_studio.data.transforms import uint8_to_float
from ddpm_studio.errors_text import one_line
from ddpm_studio.evaluation import EvaluationConfig, Protocol, Score, floor_score, prepare_reference, score_samples
from ddpm_studio.evaluation.class_mix import CLASSES_AS_DATA, class_counts, class_mix
from ddpm_studio.evaluation.evaluate import PreparedReference
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.events import MetricsEvent
from ddpm_studio.training.previews import sample_preview
from ddpm_studio.training.run_files import is_int, is_number, read_json_file, read_json_lines
from ddpm_studio.training.time_share import FORWARD_SHARE_OF_STEP, TimeShareCadence

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
BEST_FILE = "best.json"
BEST_METRIC = "swd"  # the multi-scale SWD (×10³), lower is better: the checkpoint kept as the best
HELD_OUT_SEED_OFFSET = 1000  # a built-in set drawn with seed + this shares no image with the training set
METRICS_NOISE_SEED = 12345  # x_T of the evaluated samples, the same at every point of every run
FLOOR_DRAWS = 4  # disjoint real draws whose spread is the floor's error (built-in sets: held-out images are free)
EVALUATION_ESTIMATE_S = 2.0  # metrics + reference preparation, before the first evaluation is timed


def held_out_spec(source: str, count: int) -> str | None:
    """The built-in set `source` with another seed and `count` items (no image in common), or None for a folder
    or archive (which has no held-out images)."""
    if not source.startswith(BUILTIN_PREFIX):
        return None
    kind, params = parse_builtin_spec(source)
    return f"{BUILTIN_PREFIX}{kind}?n={count}&size={params['size']}&seed={params['seed'] + HELD_OUT_SEED_OFFSET}"


def dataset_images(dataset: ImageDataset, indices: torch.Tensor | None = None) -> torch.Tensor:
    """Un-augmented images of a data set (centre crop, no flip): float (N, C, H, W) in [-1, 1]."""
    x = dataset.cache if indices is None else dataset.cache.index_select(0, indices)
    side = dataset.config.image_size
    top = (x.shape[-1] - side) // 2
    return uint8_to_float(x[..., top:top + side, top:top + side].contiguous())


def subset_order(n: int, seed: int) -> torch.Tensor:
    """A fixed random order of n images (the reference subset of a folder is its first indices)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


@dataclass(frozen=True)
class QualityData:
    """What every evaluation of a run is measured against, prepared once."""

    reference: PreparedReference
    training: torch.Tensor | None  # (T, C, H, W) in [-1, 1]: the memorisation check's training images
    floor: Score | None  # real vs real under the same counts (None: too few images besides the reference)
    held_out: str | None  # the held-out spec, None when the reference is a subset of the training images
    source: str = ""

    @property
    def reference_count(self) -> int:
        return int(self.reference.images.shape[0])

    @property
    def reference_label(self) -> str:
        """What the reference is, for a protocol: the held-out spec or 'a subset of SOURCE'."""
        return self.held_out or f"a fixed subset of {self.source}"

    def protocol(self, sample_count: int, sampler: str | None, steps: int | None, seed: int = 0,
                 classes: str = "") -> Protocol:
        """The protocol of `sample_count` samples (of `sampler` at `steps`, asking for `classes`) scored against
        this reference."""
        return Protocol(sample_count, sampler, steps, self.reference_label, self.reference_count, seed, classes)


def reference_split(n: int, sample_count: int, reference_count: int, k: int) -> tuple[int, int]:
    """(reference images, floor images) out of n images of a folder: the reference keeps `reference_count` when
    n allows it besides `sample_count` floor images; else it shrinks so the floor keeps the samples' count; a set
    too small for both gives all its images (up to reference_count) to the reference and no floor (0)."""
    if n >= sample_count + reference_count:
        return reference_count, sample_count
    if n - sample_count > k:
        return n - sample_count, sample_count
    return min(n, reference_count), 0


def prepare_quality_data(data: DataConfig, dataset: ImageDataset, evaluation: EvaluationConfig) -> QualityData:
    """The reference (held out when the source is a built-in set), the training images (those of `dataset`, the
    set `data` describes) and the floor: `evaluation.sample_count` real images outside the reference scored
    like samples against the same reference (score.floor_score), so the floor always has the samples' counts."""
    training = dataset_images(dataset)
    held = held_out_spec(data.source, evaluation.reference_count + FLOOR_DRAWS * evaluation.sample_count)
    if held is not None:
        held_set = load_dataset(replace(data, source=held, hflip=False, random_crop=False))
        images = dataset_images(held_set)
        reference = prepare_reference(images[:evaluation.reference_count], evaluation)
        pool = images[evaluation.reference_count:]
    else:
        order = subset_order(training.shape[0], evaluation.seed)
        kept, floor_count = reference_split(training.shape[0], evaluation.sample_count, evaluation.reference_count,
                                            evaluation.k)
        reference = prepare_reference(training[order[:kept]], evaluation)
        pool = training[order[kept:kept + floor_count]]
        # the images posing as samples are training images: their memorisation check runs against the rest
        floor_training = training[torch.cat([order[:kept], order[kept + floor_count:]])]
    found = QualityData(reference, training, None, held, data.source)
    protocol = found.protocol(evaluation.sample_count, None, None, evaluation.seed)
    if pool.shape[0] <= evaluation.k:
        return found
    floor = floor_score(pool, reference, protocol, evaluation, training if held is not None else floor_training)
    if held is not None and floor is not None:
        floor = _spread_over_draws(floor, pool, reference, protocol, evaluation, training)
    return replace(found, floor=floor)


def _spread_over_draws(floor: Score, pool: torch.Tensor, reference: PreparedReference, protocol: Protocol,
                       evaluation: EvaluationConfig, training: torch.Tensor) -> Score:
    """The floor of a built-in set with the spread over FLOOR_DRAWS disjoint draws of real images as its error:
    real images cost no sampling, and the bootstrap is 4-6x too wide for real vs real (docs/decisions.md,
    "Error bars of the quality scores"). The value stays the first draw's."""
    count = protocol.sample_count
    draws = [floor] + [floor_score(pool[i * count:(i + 1) * count], reference, protocol, evaluation, training,
                                   bootstraps=0) for i in range(1, pool.shape[0] // count)]
    values = [d.values() for d in draws if d is not None]
    if len(values) < 2:
        return floor
    errors = {key: float(np.std([v[key] for v in values], ddof=1)) for key in floor.errors() if
              all(key in v for v in values)}
    return replace(floor, report=replace(floor.report, errors=errors))


class MetricsCadence(TimeShareCadence):
    """Decides after each step whether to evaluate (see the module docstring)."""

    def __init__(self, config: TrainingConfig) -> None:
        self.every_steps = config.metrics_every_steps
        super().__init__(config.metrics_time_share if not self.every_steps else 0.0)
        self.count, self.sampler_steps = config.metrics_count, config.metrics_sampler_steps

    @property
    def enabled(self) -> bool:
        return bool(self.every_steps or self.time_share > 0)

    def estimate_cost(self, step_seconds: float, batch_size: int) -> float:
        """Seconds an evaluation should take, from the seconds of one training step on `batch_size` images."""
        per_image_step = FORWARD_SHARE_OF_STEP * step_seconds / max(batch_size, 1)
        return self.count * self.sampler_steps * per_image_step + EVALUATION_ESTIMATE_S

    def due(self, step: int, elapsed_s: float, step_seconds: float | None, batch_size: int) -> bool:
        if self.every_steps:
            return step % self.every_steps == 0
        return step_seconds is not None and self.due_by_time(
            elapsed_s, lambda: self.estimate_cost(step_seconds, batch_size))


@dataclass(frozen=True)
class RunMetrics:
    """What a run folder holds of its quality curve (for a reopened run's plot)."""

    points: tuple[MetricsEvent, ...]
    floor: dict[str, float] | None
    best_step: int | None
    floor_errors: dict[str, float] | None = None
    protocol: Protocol | None = None  # None: a run stored before protocols were (issue 21)


def _metrics_problem(record: dict[str, Any]) -> str | None:
    """Why a metrics.jsonl record cannot be used, else None."""
    metrics = record.get("metrics")
    if not isinstance(metrics, dict) or not all(isinstance(k, str) and is_number(v) for k, v in metrics.items()):
        return "metrics must map names to numbers"
    if record.get("kind") == "ema":
        if not is_int(record.get("step")):
            return f"step must be an integer, got {record.get('step')!r:.40}"
        if not all(is_number(record.get(key, 0.0)) for key in ("time", "seconds")):
            return "time and seconds must be numbers"
    return None


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """The usable records of metrics.jsonl (torn lines skipped; wrongly typed ones too, with a warning)."""
    return read_json_lines(path, _metrics_problem)


def read_best(run_path: Path) -> dict[str, Any] | None:
    """best.json of a run ({"step", "metric", "value", "checkpoint"}), or None (absent, or unusable: then with a
    warning naming the file)."""
    path = Path(run_path) / BEST_FILE
    try:
        best = read_json_file(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s is not used: %s", path, one_line(exc))
        return None
    if not isinstance(best, dict) or not is_int(best.get("step")) or not is_number(best.get("value", 0.0)):
        log.warning("%s is not used: its step must be an integer and its value a number", path)
        return None
    return best


def _numbers(record: dict[str, Any], key: str) -> dict[str, float] | None:
    """record[key] as {name: float}, None when absent or not a map of numbers (old runs have no errors)."""
    value = record.get(key)
    if not isinstance(value, dict) or not all(isinstance(k, str) and is_number(v) for k, v in value.items()):
        return None
    return {k: float(v) for k, v in value.items()}


def _protocol(record: dict[str, Any] | None) -> Protocol | None:
    try:
        return Protocol.from_dict(record["protocol"]) if record and isinstance(record.get("protocol"), dict) else None
    except ValueError:
        return None


def read_metrics(run_path: Path) -> RunMetrics:
    """The stored curve of a run: its points in step order, its floor and its best step (all may be empty);
    errors and protocol where the run stored them."""
    records = _read_lines(Path(run_path) / METRICS_FILE)
    floor_record = next((r for r in records if r.get("kind") == "floor"), None)
    floor = dict(floor_record["metrics"]) if floor_record is not None else None
    floor_errors = _numbers(floor_record, "errors") if floor_record is not None else None
    best = read_best(run_path)
    best_step = best["step"] if best else None
    points = tuple(MetricsEvent(step=int(r["step"]), elapsed_s=float(r.get("time", 0.0)),
                                metrics={k: float(v) for k, v in r["metrics"].items()},
                                seconds=float(r.get("seconds", 0.0)), floor=floor, best_step=best_step,
                                errors=_numbers(r, "errors"), floor_errors=floor_errors,
                                protocol=_protocol(r) or _protocol(floor_record))
                   for r in records if r.get("kind") == "ema" and isinstance(r.get("step"), int))
    ordered = tuple(sorted(points, key=lambda p: p.step))
    protocol = ordered[-1].protocol if ordered else _protocol(floor_record)
    return RunMetrics(ordered, floor, best_step, floor_errors, protocol)


class QualityMonitor:
    """Evaluates a run's EMA model on the cadence, appends metrics.jsonl and keeps track of the best step."""

    def __init__(self, config: RunConfig, dataset: Any, run_path: Path, *, enabled: bool = True) -> None:
        tc = config.training
        self.config, self.dataset, self.run_path = config, dataset, Path(run_path)
        self.cadence = MetricsCadence(tc)
        self.evaluation = EvaluationConfig(sample_count=tc.metrics_count, reference_count=tc.metrics_reference_count,
                                           seed=0)
        self.enabled = enabled and self.cadence.enabled and isinstance(dataset, ImageDataset)
        self.sample_labels = self._sample_labels()  # the class each evaluated sample asks for (fixed per run)
        self._data: QualityData | None = None
        self._floor: dict[str, float] | None = None
        self._floor_errors: dict[str, float] | None = None
        self._last_step: int | None = None
        self._scored_this_session = False
        self._has_curve = False  # an earlier session of this run stored points (a resume keeps its cadence)
        best = read_best(self.run_path)
        self.best_step: int | None = best["step"] if best else None
        self.best_value: float = float(best["value"]) if best and "value" in best else math.inf

    @property
    def metrics_path(self) -> Path:
        return self.run_path / METRICS_FILE

    def protected_steps(self) -> set[int]:
        """Checkpoint steps pruning must keep: the best one."""
        return {self.best_step} if self.best_step is not None else set()

    def due(self, step: int, elapsed_s: float, step_seconds: float | None, batch_size: int) -> bool:
        return self.enabled and self._last_step != step and self.cadence.due(step, elapsed_s, step_seconds,
                                                                               batch_size)

    def final_due(self, step: int) -> bool:
        """Score the end of training too, when the run has a curve (begun in this session or an earlier one that
        this one resumes: an extended run's last checkpoint is scored); a short fresh run stays unscored."""
        return self.enabled and (self._scored_this_session or self._has_curve) and self._last_step != step

    def evaluate(self, model: torch.nn.Module, diffusion: Any, device: torch.device, step: int, elapsed_s: float,
                 should_stop: Callable[[], bool] | None = None) -> MetricsEvent | None:
        """Sample, score and append one point; None when stopped mid-sampling. The event's `best_step` is `step`
        when this point is the best so far (the caller then writes a checkpoint and calls `mark_best`)."""
        started = time.perf_counter()
        self._last_step, self._scored_this_session = step, True
        if self._data is None:
            self._data = prepare_quality_data(self.config.data, self.dataset, self.evaluation)
            floor = self._data.floor
            self._floor = floor.values() if floor is not None else None
            self._floor_errors = floor.errors() if floor is not None else None
            if floor is not None and not self._has_floor_line():
                atomic_append(self.metrics_path, [json.dumps({"kind": "floor", "metrics": self._floor,
                                                              "errors": self._floor_errors,
                                                              "protocol": floor.protocol.to_dict(),
                                                              "sample_count": self.evaluation.sample_count,
                                                              "reference_count": self._data.reference_count,
                                                              "held_out": self._data.held_out}) + "\n"],
                              what="the metrics")
        data, tc = self.config.data, self.config.training
        images = sample_preview(model, diffusion, count=tc.metrics_count,
                                shape=(data.channels, data.image_size, data.image_size), seed=METRICS_NOISE_SEED,
                                steps=tc.metrics_sampler_steps, device=device, method=tc.metrics_sampler,
                                should_stop=should_stop, labels=self.sample_labels)
        if images is None:
            return None
        samples = uint8_to_float(torch.from_numpy(images).permute(0, 3, 1, 2))  # (N, C, H, W)
        score = score_samples(samples, self._data.reference, self.protocol(), self.evaluation, self._data.training)
        metrics, errors = score.values(), score.errors()
        seconds = time.perf_counter() - started
        value = metrics[BEST_METRIC]
        best = step if value < self.best_value else self.best_step
        if best == step:
            self.best_step, self.best_value = step, value
        atomic_append(self.metrics_path, [json.dumps({"kind": "ema", "step": step, "time": round(elapsed_s, 3),
                                                      "wall": round(time.time(), 3), "seconds": round(seconds, 3),
                                                      "metrics": metrics, "errors": errors,
                                                      "protocol": score.protocol.to_dict()}) + "\n"],
                      what="the metrics")
        return MetricsEvent(step=step, elapsed_s=elapsed_s, metrics=metrics, seconds=seconds,
                            floor=self._floor, best_step=best, errors=errors, floor_errors=self._floor_errors,
                            protocol=score.protocol)

    def _sample_labels(self) -> tuple[int, ...]:
        """The class each evaluated sample asks for: a conditional model's data proportions (class_mix), else ()."""
        labels = getattr(self.dataset, "labels", None)
        num_classes = self.config.model.num_classes
        if not num_classes or labels is None or not bool((labels >= 0).any()):
            return ()
        return class_mix(self.config.training.metrics_count, class_counts(labels, num_classes))

    def protocol(self) -> Protocol:
        """The protocol of this run's curve (its reference must be prepared: after the first evaluation)."""
        tc = self.config.training
        assert self._data is not None
        return self._data.protocol(tc.metrics_count, tc.metrics_sampler, tc.metrics_sampler_steps, METRICS_NOISE_SEED,
                                   CLASSES_AS_DATA if self.sample_labels else "")

    def record_cost(self, seconds: float, elapsed_s: float) -> None:
        """An evaluation (and its checkpoint, if it was the best) took `seconds`, ending at `elapsed_s`."""
        self.cadence.record(seconds, elapsed_s)

    def mark_best(self, step: int, checkpoint: Path | None) -> None:
        """Write best.json once the best step's checkpoint exists."""
        atomic_write_text(self.run_path / BEST_FILE, json.dumps(
            {"step": step, "metric": BEST_METRIC, "value": self.best_value,
             "checkpoint": checkpoint.name if checkpoint is not None else None}, indent=1) + "\n", what="best.json")

    def restart(self, step: int, elapsed_s: float) -> None:
        """A resume from `step`: drop later points (and a later best) and keep the stored curve's cadence (the
        interval after its last point, from that point's cost), so a resumed or extended run goes on scoring."""
        self._last_step = step
        if not self.enabled:
            self.cadence.restart(elapsed_s)
            return
        kept: list[dict[str, Any]] = []
        if self.metrics_path.is_file():
            kept = [r for r in _read_lines(self.metrics_path) if r.get("kind") != "ema" or r.get("step", 0) <= step]
            atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))
        points = [r for r in kept if r.get("kind") == "ema"]
        self._has_curve = bool(points)
        if points:
            last = max(points, key=lambda r: r["step"])
            cost = float(last.get("seconds", 0.0))
            self.cadence.restart(elapsed_s, float(last.get("time", elapsed_s)) + cost, cost if cost > 0 else None)
        else:
            self.cadence.restart(elapsed_s)
        if self.best_step is not None and self.best_step > step:
            (self.run_path / BEST_FILE).unlink(missing_ok=True)
            log.info("best step %d forgotten: it is after the resumed step %d", self.best_step, step)
            self.best_step, self.best_value = None, math.inf

    def _has_floor_line(self) -> bool:
        return any(r.get("kind") == "floor" for r in _read_lines(self.metrics_path))
