"""A sample's nearest training images as the Sampler shows them: named by file, mirrored only when the run
trained on mirrored images (issue 22 N13: "#55" and "(mirrored)" for a run trained without flips).

`app.evaluation.nearest_neighbours` finds them (indices into the training images, in the data set's order);
here they get the file names of those images, and the mirror search follows the run's own `data.hflip`. Qt-free.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ddpm_studio.app.evaluation import EvaluationSettings, Neighbours, nearest_neighbours
from ddpm_studio.data import DataConfig, load_dataset
from ddpm_studio.evaluation import EvaluationConfig
from ddpm_studio.training.checkpoint import load_checkpoint

_NAMES: OrderedDict[tuple[str, int, int], tuple[str, ...]] = OrderedDict()  # (source, size, channels) -> names
_NAMES_KEPT = 4


@dataclass(frozen=True)
class NoFlipSettings(EvaluationSettings):
    """The evaluation's settings with the mirror search off (a run trained without flips)."""

    def evaluation(self) -> EvaluationConfig:
        return replace(super().evaluation(), include_flips=False)


@dataclass(frozen=True)
class NamedNeighbours:
    """The neighbours and each one's file name (its key in the data set: a path relative to the folder)."""

    neighbours: Neighbours
    names: tuple[str, ...]


def trained_with_flips(checkpoint: str | Path | None) -> bool:
    """Whether the run of `checkpoint` trained on random horizontal flips (True when unknown)."""
    if checkpoint is None:
        return True
    return bool(load_checkpoint(Path(checkpoint), with_state=False).config.data.hflip)


def dataset_names(source: str, image_size: int, channels: int) -> tuple[str, ...]:
    """The names of a source's usable images in the data set's order (what the neighbours' indices count)."""
    key = (source, image_size, channels)
    if key not in _NAMES:
        dataset = load_dataset(DataConfig(source=source, image_size=image_size, channels=channels, hflip=False))
        _NAMES[key] = tuple(str(name) for name in dataset.keys)
        while len(_NAMES) > _NAMES_KEPT:
            _NAMES.popitem(last=False)
    _NAMES.move_to_end(key)
    return _NAMES[key]


def named_neighbours(image: np.ndarray, source: str, count: int, *, include_flips: bool = True) -> NamedNeighbours:
    """The `count` nearest training images of one (H, W, C) uint8 sample, with their file names."""
    settings = EvaluationSettings() if include_flips else NoFlipSettings()
    found = nearest_neighbours(image, source, count, settings)
    height, _width, channels = image.shape
    names = dataset_names(source, height, channels)
    return NamedNeighbours(found, tuple(names[i] if 0 <= i < len(names) else f"#{i}" for i in found.indices))
