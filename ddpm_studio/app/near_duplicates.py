"""Near-duplicate pairs of a data set, in the memorisation check's distance (evaluation/memorisation.py).

Distance: d(x, y) = ‖x - y‖₂ / √(C·H·W) on images in [-1, 1] (the RMS pixel difference), a mirrored image
counting as the same when the run trains on flips -- exactly the distance the memorisation check measures
samples with, so a pair listed here is a pair the check would call copies of each other.

The threshold is relative to the set's own spacing: with d_NN(i) each image's distance to its nearest other
image, a pair is a near-duplicate when

    d(i, j) < DUPLICATE_FACTOR · median_i d_NN(i)        (or d(i, j) = 0: an exact copy, whatever the median)

so it adapts to sets of smooth or busy images alike. Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ddpm_studio.evaluation.memorisation import nearest_training_images

__all__ = ["DUPLICATE_FACTOR", "DUPLICATE_NEIGHBOURS", "DuplicatePair", "NearDuplicates", "near_duplicates"]

DUPLICATE_FACTOR = 0.1  # a pair closer than 0.1 × the median nearest-neighbour distance is a near-duplicate
DUPLICATE_NEIGHBOURS = 8  # the nearest images searched per image (pairs beyond the 8th neighbour are not listed)


@dataclass(frozen=True)
class DuplicatePair:
    """Two images (indices into the data set, first < second), their names and their distance."""

    first: int
    second: int
    first_key: str
    second_key: str
    distance: float  # RMS pixel distance in [-1, 1] units
    mirrored: bool  # the second matches the first's horizontal mirror


@dataclass(frozen=True)
class NearDuplicates:
    """The pairs (closest first), the threshold they are under, and the median nearest-neighbour distance."""

    pairs: tuple[DuplicatePair, ...]
    threshold: float
    median_nn: float
    factor: float
    include_flips: bool

    def describe(self) -> str:
        """One line: how many pairs, under which threshold."""
        rule = (f"closer than {self.factor:g} × the median nearest-neighbour distance "
                f"({self.median_nn:.4f}), i.e. RMS < {self.threshold:.4f}")
        mirror = ", mirrors counting" if self.include_flips else ""
        return f"{len(self.pairs)} near-duplicate pair(s): {rule}{mirror}"


def near_duplicates(images: Tensor, keys: tuple[str, ...], *, factor: float = DUPLICATE_FACTOR,
                    include_flips: bool = True, neighbours: int = DUPLICATE_NEIGHBOURS) -> NearDuplicates:
    """The near-duplicate pairs among images (N, C, H, W) in [-1, 1], named by `keys` (N,)."""
    n = images.shape[0]
    if len(keys) != n:
        raise ValueError(f"{len(keys)} names for {n} images")
    if n < 2:
        return NearDuplicates((), 0.0, 0.0, factor, include_flips)
    indices, distances, mirrored = nearest_training_images(images, images, min(n, neighbours + 1),
                                                           include_flips=include_flips)
    others = indices != torch.arange(n).unsqueeze(1)  # (N, k): drop each image itself
    nn_distance = torch.where(others, distances, torch.full_like(distances, float("inf"))).min(dim=1).values
    median = float(nn_distance.median())
    threshold = factor * median
    found: dict[tuple[int, int], DuplicatePair] = {}
    close = others & ((distances < threshold) | (distances == 0))
    for i, column in close.nonzero().tolist():
        j = int(indices[i, column])
        a, b = min(i, j), max(i, j)
        d = float(distances[i, column])
        if (a, b) not in found or d < found[(a, b)].distance:
            found[(a, b)] = DuplicatePair(a, b, keys[a], keys[b], d, bool(mirrored[i, column]))
    pairs = tuple(sorted(found.values(), key=lambda p: (p.distance, p.first, p.second)))
    return NearDuplicates(pairs, threshold, median, factor, include_flips)
