"""The NFE–quality curve of one model: sampler × NFE budget → sample-quality metrics against the data set.

Every cell samples `count` images from the same x_T (one draw from `seed`; stochastic samplers also draw their
fresh noise from generators seeded alike), so the cells differ only by sampler and budget. A budget is spent
by `SamplingConfig.with_nfe` (Heun: (NFE + 1) // 2 steps, so an even budget shows its true, odd cost); DDPM
has one cell, at NFE = T. The metrics are `ddpm_studio.evaluation.score_samples` (every face's one score: SWD,
precision/recall in the download-free embedding) against `reference_count` real images, and the floor row is
the same evaluation of real images (`real_vs_real_reference`) at the same sizes.

Results are cached per checkpoint in a JSON file (atomic writes): the key of a cell is the checkpoint's
SHA-256, the data set and every setting that changes its samples or metrics, so a rerun, a cancelled sweep
resumed, or a new budget added costs only the missing cells. Cancellable between sampler steps; progress is
reported in network evaluations. Qt-free: the CLI's `sweep` and the Compare-samplers view both call `run_sweep`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import torch

from ddpm_studio.app.chunked_sampling import final_images
from ddpm_studio.app.diffusers_model import is_diffusers_folder
from ddpm_studio.app.sampling import load_for_sampling
from ddpm_studio.app.sweep_cache_io import (
    cell_problem,
    describe_write_failure,
    floor_problem,
    merge_cache_entries,
    read_cache_entries,
)
from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.dataset import ImageDataset, load_dataset
from ddpm_studio.engine import SAMPLERS, SamplingConfig, nfe, steps_for_nfe
from ddpm_studio.evaluation import EvaluationConfig, Protocol, prepare_reference, real_vs_real_reference, score_samples
from ddpm_studio.paths import APP_NAME, HOME_ENV, data_home
from ddpm_studio.training.checkpoint import read_checkpoint_config, resolve_checkpoint
from ddpm_studio.training.devices import resolve_device

log = logging.getLogger(__name__)

SWEEP_NFE: tuple[int, ...] = (5, 10, 20, 50, 100, 1000)  # the budgets of the issue
SWEEP_METHODS: tuple[str, ...] = ("ddim", "dpmpp_2m", "euler", "heun", "euler_ancestral", "ddpm")
SWEEP_METRICS: tuple[str, ...] = ("swd", "precision", "recall")  # lower, higher, higher is better
CACHE_FORMAT = "ddpm-studio.sweep-cache/1"
_ALGORITHM_VERSION = 2  # bump when a change alters what a cached cell would hold (2: x_T drawn before z)


@dataclass(frozen=True)
class SweepSettings:
    """What one sweep samples and measures (every field enters the cache key of the cells it affects)."""

    methods: tuple[str, ...] = SWEEP_METHODS  # samplers, SAMPLERS names
    budgets: tuple[int, ...] = SWEEP_NFE  # NFE budgets; DDPM only at T, budgets above a sampler's reach skipped
    count: int = 256  # samples per cell, all from the same x_T
    reference_count: int = 512  # real images the samples are measured against
    seed: int = 0  # x_T, the samplers' generators, the reference draw and the metrics' random choices
    batch_size: int = 64  # images per model call (bounds memory; cancellation is checked between steps)
    clip_x0: bool = True  # clip the predicted x_0 to [-1, 1], as the sampler view does
    with_floor: bool = True  # also evaluate real vs real at the same sizes

    def validate(self) -> None:
        """Raise ValueError with a one-line reason if a field is out of range."""
        bad = [m for m in self.methods if m not in SAMPLERS]  # the sampler table
        if bad or not self.methods:
            raise ValueError(f"methods must be among {', '.join(SAMPLERS)}, got {', '.join(bad) or 'none'}")
        if not self.budgets or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in self.budgets):
            raise ValueError(f"NFE budgets must be integers >= 1, got {list(self.budgets)}")
        for name in ("count", "reference_count", "batch_size"):
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
class SweepCell:
    """One sampler at one budget: its steps, its true cost and the metrics of its samples."""

    method: str
    budget: int  # the NFE asked for
    steps: int
    nfe: int  # what it cost (Heun at an even budget: one less)
    metrics: dict[str, float]
    seconds: float  # sampling time when it was computed
    cached: bool = False
    errors: dict[str, float] = field(default_factory=dict)  # bootstrap errors of `metrics` (none in old caches)


@dataclass(frozen=True)
class SweepProgress:
    """A snapshot for a progress bar: network evaluations done of those this sweep still has to compute."""

    done_nfe: float
    total_nfe: int
    method: str
    budget: int
    cell: int  # 0-based index among the cells to compute
    cells: int


@dataclass(frozen=True)
class SweepResult:
    checkpoint: str
    source: str
    num_timesteps: int
    settings: SweepSettings
    cells: tuple[SweepCell, ...]
    floor: dict[str, float] | None = None
    cancelled: bool = False
    skipped: tuple[str, ...] = field(default=())  # "method@budget: reason" of cells that cannot exist

    def cell(self, method: str, budget: int) -> SweepCell | None:
        return next((c for c in self.cells if c.method == method and c.budget == budget), None)

    def curve(self, method: str, metric: str) -> list[tuple[int, float]]:
        """(NFE, metric) points of one sampler, by NFE."""
        return sorted((c.nfe, c.metrics[metric]) for c in self.cells if c.method == method and metric in c.metrics)

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "source": self.source, "num_timesteps": self.num_timesteps,
                "settings": asdict(self.settings), "cells": [asdict(c) for c in self.cells], "floor": self.floor,
                "cancelled": self.cancelled, "skipped": list(self.skipped)}


class SweepCancelled(Exception):
    """Raised inside a cell when the caller asked to stop; `run_sweep` turns it into `cancelled=True`."""


def plan_cells(methods: Sequence[str], budgets: Sequence[int], num_timesteps: int
               ) -> tuple[list[tuple[str, int, int, int]], list[str]]:
    """(method, budget, steps, nfe) of every cell that exists, in method-then-budget order, and the reasons
    the others do not (DDPM away from T, a budget beyond T steps)."""
    cells, skipped = [], []
    for method in methods:
        for budget in sorted(set(budgets)):
            try:
                steps = steps_for_nfe(method, budget, num_timesteps)
            except ValueError as exc:
                if method != "ddpm":  # DDPM's one cell is at T; its absence elsewhere needs no saying
                    skipped.append(f"{method}@{budget}: {exc}")
                continue
            cells.append((method, budget, steps, nfe(method, steps, num_timesteps)))
    if "ddpm" in methods and num_timesteps not in budgets:
        skipped.append(f"ddpm: it costs T = {num_timesteps} NFE, not among the budgets")
    return cells, skipped


# ---- the cache ----------------------------------------------------------------------------------------

def sweep_cache_dir() -> Path:
    """`$DDPM_STUDIO_HOME/cache/sweeps` when set (tests), else the platformdirs user cache dir's `sweeps`."""
    if os.environ.get(HOME_ENV):
        return data_home() / "cache" / "sweeps"
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "sweeps"


_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered per (path, size, mtime) for this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


class SweepCache:
    """One JSON file per checkpoint: {format, checkpoint, sha256, entries: {key: value}}; atomic writes.

    The cache only ever saves work: a damaged file or a malformed entry is a miss (recomputed, then rewritten),
    said once with the file's path; a folder that cannot be written leaves the results uncached, with a
    warning; concurrent sweeps of one checkpoint merge their entries under a lock file (sweep_cache_io.py).
    """

    def __init__(self, folder: Path, checkpoint: Path) -> None:
        self.sha = file_sha256(checkpoint)
        self.path = Path(folder) / f"{self.sha[:24]}.json"
        self.checkpoint = checkpoint
        self.entries: dict[str, Any] = read_cache_entries(self.path, CACHE_FORMAT, self.sha)
        self._write_failed = False

    def key(self, **parts: Any) -> str:
        text = json.dumps({"v": _ALGORITHM_VERSION, "checkpoint": self.sha, **parts}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def get(self, key: str) -> Any:
        return self.entries.get(key)

    def get_cell(self, key: str) -> dict[str, Any] | None:
        """A cached cell ({"metrics", "seconds", ...}), or None when absent or malformed (then a miss, said once)."""
        return self._checked(key, cell_problem)

    def get_floor(self, key: str) -> dict[str, float] | None:
        """A cached floor ({metric: value}), or None when absent or malformed."""
        return self._checked(key, floor_problem)

    def _checked(self, key: str, problem: Callable[[Any], str | None]) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return None
        reason = problem(entry)
        if reason is not None:
            log.warning("sweep cache %s: a malformed entry is recomputed (%s)", self.path, reason)
            del self.entries[key]
            return None
        return entry

    def put(self, key: str, value: Any) -> None:
        """Store one entry, merged under the cache's lock with what other sweeps wrote meanwhile; a write that
        fails (read-only folder, full disk) is a warning, once: the results stand, uncached."""
        self.entries[key] = value
        try:
            self.entries = merge_cache_entries(self.path, CACHE_FORMAT, self.sha, self.checkpoint, {key: value},
                                               self.entries)
        except OSError as exc:
            if not self._write_failed:
                log.warning("the sweep results are not cached: %s", describe_write_failure(exc, self.path))
            self._write_failed = True


# ---- the sweep ----------------------------------------------------------------------------------------

def model_data_source(checkpoint: str | Path) -> str:
    """The data source the model at `checkpoint` was trained on (the sweep's default reference); a published
    (diffusers) model has none: give the data to compare against."""
    if is_diffusers_folder(checkpoint):
        raise ValueError(f"{Path(checkpoint).name} is a published model: give the images to compare against "
                         "(--data FOLDER)")
    return read_checkpoint_config(resolve_checkpoint(Path(checkpoint)))[0].data.source  # the header alone


def sweep_dataset(data: str | ImageDataset, image_size: int, channels: int,
                  classes: tuple[str, ...] = ()) -> ImageDataset:
    """The images measured against, un-augmented; with `classes` (a conditional model's), labelled in that
    order (DataSourceError when the data cannot be labelled so)."""
    if isinstance(data, ImageDataset):
        if data.image_shape != (channels, image_size, image_size):
            raise ValueError(f"the data set gives {data.image_shape} images, the model makes "
                             f"{(channels, image_size, image_size)}")
        return data
    return load_dataset(DataConfig(source=data, image_size=image_size, channels=channels, hflip=False,
                                   classes=classes))


def reference_images(dataset: ImageDataset, count: int, seed: int) -> torch.Tensor:
    """`count` (or all) images of the data set, drawn without replacement by `seed`, un-augmented."""
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:count]
    return dataset.batch(order.sort().values, generator=torch.Generator().manual_seed(seed))


def grid_key(method: str) -> dict[str, str]:
    """The sampler's default grid (its sampler-table row) in the cache key: a changed grid is a miss."""
    return {"grid": SAMPLERS.lookup(method).grid}


def _sample_cell(model, diffusion, x_shape: tuple[int, ...], method: str, steps: int, settings: SweepSettings,
                 device: torch.device, tick: Callable[[float], None], should_stop: Callable[[], bool]) -> torch.Tensor:
    """The samples of one cell (count, C, H, W) in [-1, 1], in batches of `batch_size` from the shared x_T."""
    config = SamplingConfig(method=method, steps=steps, clip_x0=settings.clip_x0, seed=settings.seed,
                            count=settings.count)
    samples = final_images(model, diffusion, x_shape, config, batch_size=settings.batch_size, device=device,
                           should_stop=should_stop,
                           on_step=lambda n, last: tick(n / settings.count / last.num_steps))
    if samples is None:
        raise SweepCancelled
    return samples


def run_sweep(checkpoint: str | Path, data: str | ImageDataset, settings: SweepSettings | None = None, *,
              device: str | torch.device = "cpu", cache_dir: Path | None = None, use_cache: bool = True,
              cached_only: bool = False,
              should_stop: Callable[[], bool] | None = None,
              on_progress: Callable[[SweepProgress], None] | None = None,
              on_cell: Callable[[SweepCell], None] | None = None) -> SweepResult:
    """Sample and evaluate every (sampler, budget) cell of `settings` for the model at `checkpoint` (a file or a
    run folder) against images of `data` (a source spec or a loaded data set of the model's image shape).

    Cached cells are read, not recomputed (`use_cache=False` recomputes and overwrites; `cached_only=True`
    computes nothing and returns the cached cells and floor). When `should_stop()` answers True the sweep
    returns at once with the finished cells and `cancelled=True`."""
    settings = settings or SweepSettings()
    settings.validate()
    stop = should_stop or (lambda: False)
    device = resolve_device(device)
    loaded = load_for_sampling(checkpoint, device)  # a checkpoint or run, or a diffusers model folder
    model, diffusion, shape, path = loaded.model, loaded.diffusion, loaded.shape, loaded.weights
    T = diffusion.num_timesteps
    dataset = sweep_dataset(data, shape[1], shape[0])
    cache = SweepCache(cache_dir or sweep_cache_dir(), path)
    evaluation = settings.evaluation()
    common = dict(source=dataset.spec, images=len(dataset), shape=shape, count=settings.count,
                  reference_count=settings.reference_count, seed=settings.seed, evaluation=evaluation.to_dict())
    plan, skipped = plan_cells(settings.methods, settings.budgets, T)

    cells: dict[tuple[str, int], SweepCell] = {}
    todo = []
    for method, budget, steps, cost in plan:
        key = cache.key(kind="cell", method=method, steps=steps, clip_x0=settings.clip_x0,
                        batch_size=settings.batch_size, **grid_key(method), **common)
        hit = cache.get_cell(key) if use_cache else None
        if hit is not None:
            cells[(method, budget)] = SweepCell(method, budget, steps, cost, dict(hit["metrics"]),
                                                float(hit["seconds"]), cached=True,
                                                errors=dict(hit.get("errors") or {}))
            if on_cell is not None:
                on_cell(cells[(method, budget)])
        else:
            todo.append((method, budget, steps, cost, key))

    def result(cancelled: bool, floor: dict[str, float] | None) -> SweepResult:
        ordered = tuple(cells[(m, b)] for m, b, _, _ in plan if (m, b) in cells)
        return SweepResult(str(path), dataset.spec, T, settings, ordered, floor, cancelled, tuple(skipped))

    if cached_only:
        return result(False, cache.get_floor(cache.key(kind="floor", **common)) if settings.with_floor else None)
    reference_images_ = reference_images(dataset, settings.reference_count, settings.seed)
    reference = prepare_reference(reference_images_, evaluation) if todo else None
    total, done = sum(cost for *_, cost, _ in todo), 0.0
    for index, (method, budget, steps, cost, key) in enumerate(todo):
        def tick(fraction: float, method=method, budget=budget, cost=cost, index=index) -> None:
            nonlocal done
            done += fraction * cost
            if on_progress is not None:
                on_progress(SweepProgress(done, total, method, budget, index, len(todo)))

        started = time.perf_counter()
        try:
            with torch.inference_mode():
                samples = _sample_cell(model, diffusion, shape, method, steps, settings, device, tick, stop)
        except SweepCancelled:
            return result(True, None)
        seconds = time.perf_counter() - started
        protocol = Protocol(settings.count, method, steps, f"a random subset of {dataset.spec}",
                            int(reference.images.shape[0]), settings.seed)
        score = score_samples(samples, reference, protocol, evaluation)  # the faces' one score
        metrics, errors = score.values(), score.errors()
        cache.put(key, {"method": method, "budget": budget, "steps": steps, "nfe": cost, "metrics": metrics,
                        "errors": errors, "seconds": seconds})
        cells[(method, budget)] = SweepCell(method, budget, steps, cost, metrics, seconds, errors=errors)
        if on_cell is not None:
            on_cell(cells[(method, budget)])
    floor = floor_metrics(dataset, settings, cache, common, use_cache) if settings.with_floor and not stop() else None
    return result(stop(), floor)


def floor_metrics(dataset: ImageDataset, settings: SweepSettings, cache: SweepCache, common: dict[str, Any],
           use_cache: bool) -> dict[str, float] | None:
    """Real vs real at the sweep's sizes (cached like a cell); None when the data set is too small for it."""
    key = cache.key(kind="floor", **common)
    hit = cache.get_floor(key) if use_cache else None
    if hit is not None:
        return dict(hit)
    config = settings.evaluation()
    if len(dataset) < config.sample_count + config.reference_count:
        return None
    floor = real_vs_real_reference(dataset.batch(torch.arange(len(dataset))), config).scalars()
    floor = {k: v for k, v in floor.items() if k in ("swd", "precision", "recall") or k.startswith("swd_")}
    cache.put(key, floor)
    return floor
