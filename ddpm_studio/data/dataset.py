"""ImageDataset: decode every image once into an in-memory uint8 cache, augment cheaply per item.

Decoding (the slow part: file I/O, JPEG/PNG decode, Lanczos resize) happens once, on a few threads
(Pillow releases the GIL while decoding and resizing). The cache holds uint8 (N, C, S, S), S = the
target size (or 9/8 of it when random-cropping); `__getitem__` only crops/flips a tensor and scales it
to [-1, 1], so an epoch costs microseconds per image. Bad files are skipped and listed in `problems`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.decode import ImageDecodeError
from ddpm_studio.data.labels import UNLABELLED, ClassLabels, LabelSummary, read_labels, summarize_labels
from ddpm_studio.data.problems import DataLoadCancelled, DataSourceError, Problem, summarize_problems
from ddpm_studio.data.sources import ImageSource, open_source
from ddpm_studio.data.transforms import ImageTransform, to_uint8, uint8_to_float

__all__ = ["ImageDataset", "load_dataset", "DEFAULT_MAX_CACHE_BYTES"]

log = logging.getLogger(__name__)

DEFAULT_MAX_CACHE_BYTES = 8 * 2**30  # refuse (clearly) to cache more than 8 GiB of pixels
ProgressFn = Callable[[int, int], None]


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class ImageDataset(Dataset):
    """A decoded, cached image set; items are float32 (C, H, W) in [-1, 1] with augmentations applied."""

    def __init__(
        self,
        source: ImageSource,
        config: DataConfig,
        *,
        on_progress: ProgressFn | None = None,
        cancel: Callable[[], bool] | None = None,
        workers: int | None = None,
        generator: torch.Generator | None = None,
        max_cache_bytes: int = DEFAULT_MAX_CACHE_BYTES,
    ) -> None:
        config.validate()
        self.source, self.config = source, config
        self.transform = ImageTransform(config.image_size, config.channels, config.random_crop, config.hflip)
        self.generator = generator  # used by __getitem__ / batch for crops and flips (None: global RNG)
        self.problems: list[Problem] = list(getattr(source, "problems", []))
        total = len(source)
        side = self.transform.stored_size
        need = total * config.channels * side * side
        if need > max_cache_bytes:
            raise DataSourceError(
                f"'{source.spec}' has {total} images: {need / 2**30:.1f} GiB at {side}x{side} exceeds the "
                f"{max_cache_bytes / 2**30:.1f} GiB memory limit; choose a smaller image size or a subset"
            )
        # before decoding: a bad labels.csv fails fast. Under "auto" for a set without a run's classes, a labelling
        # problem is kept in `label_problem` instead (readers that need no labels, the sweep's or the evaluation's,
        # still load the images; a new training run raises it: app.training)
        self.label_problem: str | None = None
        try:
            self.class_labels = _class_labels(source, config)
        except DataSourceError as exc:
            if config.labels != "auto" or config.classes:
                raise
            self.class_labels, self.label_problem = None, str(exc)
        self.cache, self.keys = self._decode_all(total, on_progress, cancel, workers or _default_workers())
        # (N,) class index of each cached image, UNLABELLED (-1) where none; None for an unlabelled set
        self.labels: Tensor | None = None if self.class_labels is None else torch.tensor(
            [self.class_labels.labels.get(k, UNLABELLED) for k in self.keys], dtype=torch.long)
        if len(self.keys) == 0:
            raise DataSourceError(
                f"none of the {total} files in '{source.spec}' could be decoded ({summarize_problems(self.problems)})"
            )
        if self.problems:
            log.warning("%s: %s", source.spec, summarize_problems(self.problems))

    def _prepare(self, index: int) -> Tensor | Problem:
        """Decode + resize + crop item `index` to uint8 (C, S, S), or the reason it was skipped."""
        name = self._names[index]
        try:
            image = self.source.load(index, min_size=self.transform.stored_size)
            return self.transform.prepare(image)
        except ImageDecodeError as exc:
            return Problem(name, exc.reason)
        except (OSError, ValueError, MemoryError) as exc:  # conversion/resize failures on odd images
            return Problem(name, f"cannot convert image ({type(exc).__name__}: {exc})")

    def _decode_all(
        self, total: int, on_progress: ProgressFn | None, cancel: Callable[[], bool] | None, workers: int
    ) -> tuple[Tensor, list[str]]:
        self._names = self.source.keys()
        side = self.transform.stored_size
        cache = torch.empty((total, self.config.channels, side, side), dtype=torch.uint8)  # (N, C, S, S)
        keys: list[str] = []
        step = max(1, total // 200)  # about 200 progress reports at most
        if on_progress is not None:
            on_progress(0, total)
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ddpm-decode")
        try:
            for done, result in enumerate(executor.map(self._prepare, range(total)), start=1):
                if cancel is not None and cancel():
                    raise DataLoadCancelled(f"loading '{self.source.spec}' was cancelled")
                if isinstance(result, Problem):
                    self.problems.append(result)
                else:
                    cache[len(keys)] = result
                    keys.append(self._names[done - 1])
                if on_progress is not None and (done % step == 0 or done == total):
                    on_progress(done, total)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        return (cache if len(keys) == total else cache[: len(keys)].clone()), keys

    # -- Dataset -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> Tensor:
        """Image `index` as float32 (C, H, W) in [-1, 1], randomly cropped/flipped if configured."""
        return self.transform.augment(self.cache[index], self.generator)

    def batch(self, indices: Sequence[int] | Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Images `indices` as one float32 (B, C, H, W) batch, augmented per sample (no DataLoader needed)."""
        index = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        x = self.cache.index_select(0, index)  # (B, C, S, S) uint8; index_select beats fancy indexing
        return self.transform.augment(x, generator if generator is not None else self.generator)

    # -- for views and reports ----------------------------------------------------------------------
    @property
    def classes(self) -> tuple[str, ...]:
        """Class names in class-index order; () for an unlabelled set."""
        return () if self.class_labels is None else self.class_labels.classes

    def label_summary(self) -> LabelSummary | None:
        """Per-class counts of the decoded images and the unlabelled files (None for an unlabelled set)."""
        return None if self.class_labels is None else summarize_labels(self.class_labels, self.keys)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every item."""
        return (self.config.channels, self.config.image_size, self.config.image_size)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def spec(self) -> str:
        return self.source.spec

    def uint8_images(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Un-augmented images (centre crop, no flip) as uint8 (B, H, W, C), for previews."""
        index = torch.arange(len(self)) if indices is None else torch.as_tensor(indices, dtype=torch.long)
        x = self.cache.index_select(0, index.reshape(-1))
        top = (x.shape[-2] - self.config.image_size) // 2
        x = x[..., top:top + self.config.image_size, top:top + self.config.image_size]
        return to_uint8(uint8_to_float(x))

    def __repr__(self) -> str:
        return (f"ImageDataset({self.spec!r}, {len(self)} images, {self.image_shape}, "
                f"{len(self.problems)} skipped)")


def _class_labels(source: ImageSource, config: DataConfig) -> ClassLabels | None:
    """The source's labels under `config.labels`, in the order of `config.classes` when a run fixed one."""
    found = read_labels(source, config.labels)
    if not config.classes:
        return found
    if found is None:
        raise DataSourceError(f"the run is conditional on {len(config.classes)} classes but "
                              f"'{source.spec}' has no labels (labels: {config.labels})")
    return found.reordered(config.classes)


def load_dataset(
    config: DataConfig,
    *,
    on_progress: ProgressFn | None = None,
    cancel: Callable[[], bool] | None = None,
    generator: torch.Generator | None = None,
) -> ImageDataset:
    """Open `config.source` and decode it into an `ImageDataset` (DataSourceError if nothing is usable)."""
    config.validate()
    return ImageDataset(open_source(config.source), config, on_progress=on_progress, cancel=cancel,
                        generator=generator)
