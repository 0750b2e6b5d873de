"""Error bars of the sample-quality metrics: a bootstrap that reuses what the score already computed, and the
one way every face prints a number with its error.

Bootstrap (Efron 1979): resample the images of both sets with replacement and recompute the metric B times;
the standard deviation of the B replicates is the score's standard error. Nothing is embedded or sampled
again: SWD resamples the images (of both sets) of the already projected descriptors (the per-set normalisation
and the random directions are kept from the full sets), precision resamples the samples and recall the real
images of the already computed "inside the other set's manifold" flags (the manifolds are kept from the full
sets), the memorised share resamples the per-sample flags. Recall adds, in quadrature, the spread that the
samples' own manifold brings (half-sampling of its balls, `half_manifold_replicates`). Chosen over the spread
across sample seeds, which needs a new sampling run per seed (docs/decisions.md, "Error bars of the quality
scores"). Known limit: for real images scored against real images (the floor) SWD's bootstrap error is 4–6×
the spread over draws (a distance near its noise floor): a built-in set's floor takes the spread over disjoint
real draws instead (training/quality_monitor.py); a folder's keeps the bootstrap (a wide, safe-side band).
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

__all__ = ["BOOTSTRAPS", "BOOTSTRAP_SEED", "BOOTSTRAP_DIRECTIONS", "format_with_error", "decimals_for", "resample_rows",
           "coverage_replicates", "half_manifold_replicates", "share_replicates", "standard_error", "combined_error"]

BOOTSTRAPS = 16  # replicates: the error is known to about ±1/sqrt(2B) ≈ ±18 % of itself (bench/score_error.py)
BOOTSTRAP_SEED = 20260212  # fixed: the same images give the same error bar
# SWD's replicates project on the first 64 of its random directions: the error comes from which images were
# drawn, not from the directions (128 directions cost twice as much for the same error, bench/score_error.py)
BOOTSTRAP_DIRECTIONS = 64


def standard_error(replicates: np.ndarray) -> float:
    """The bootstrap standard error: the replicates' standard deviation (ddof = 1)."""
    replicates = np.asarray(replicates, np.float64)
    return float(replicates.std(ddof=1)) if replicates.size > 1 else 0.0


def combined_error(a: float | None, b: float | None) -> float:
    """The standard error of a difference of two independent scores."""
    return math.hypot(a or 0.0, b or 0.0)


def resample_rows(rng: np.random.Generator, images: int, per_image: int) -> np.ndarray:
    """Column indices of `images` images drawn with replacement, each carrying its `per_image` consecutive
    descriptors (level_descriptors orders them image by image)."""
    chosen = rng.integers(0, images, images)
    return (chosen[:, None] * per_image + np.arange(per_image)[None, :]).ravel()


def coverage_replicates(distances: Tensor, radii: Tensor, rng: np.random.Generator, bootstraps: int) -> np.ndarray:
    """Eq. (1) of Kynkäänniemi et al. averaged, B times on resampled queries: `distances` (Q, P) from queries to
    manifold points of radii (P,). Only the queries are resampled: resampling the manifold's points drops a
    third of its balls per replicate, which inflated recall's error 3× against the spread over sample seeds
    (docs/decisions.md, "Error bars of the quality scores")."""
    inside = (distances <= radii[None, :]).any(dim=1).numpy().astype(np.float64)  # (Q,)
    q = inside.size
    return np.array([inside[rng.integers(0, q, q)].mean() for _ in range(bootstraps)])


def half_manifold_replicates(distances: Tensor, radii: Tensor, rng: np.random.Generator,
                             bootstraps: int) -> np.ndarray:
    """Coverage of all queries by a random half of the manifold's points (without replacement), B times. The
    spread of a half-sample statistic estimates the spread of the full-sample one (half-sampling, McCarthy
    1969: the finite-population factor 1 − m/n and the 1/m scaling cancel at m = n/2). Recall's manifold is the
    samples' own: how the samples fall moves it as much as which real images are counted."""
    within = (distances <= radii[None, :]).numpy()  # (Q, P)
    p = within.shape[1]
    return np.array([within[:, rng.permutation(p)[:max(1, p // 2)]].any(axis=1).mean() for _ in range(bootstraps)])


def share_replicates(flags: Tensor, rng: np.random.Generator, bootstraps: int) -> np.ndarray:
    """The share of True among resampled per-item flags, B times."""
    values = flags.numpy().astype(np.float64)
    if values.size == 0:
        return np.zeros(bootstraps)
    return np.array([values[rng.integers(0, values.size, values.size)].mean() for _ in range(bootstraps)])


def decimals_for(error: float) -> int:
    """Decimals that show an error to 1 significant digit (2 when it starts with 1: 0.14 stays 0.14)."""
    if not math.isfinite(error) or error <= 0:
        return 3
    exponent = math.floor(math.log10(error))
    leading = error / 10 ** exponent
    digits = 2 if leading < 2 else 1
    return max(0, digits - 1 - exponent)


def format_with_error(value: float, error: float | None, *, plus_minus: str = " ± ") -> str:
    """'87 ± 5', '0.62 ± 0.04', '12.3 ± 1.4': the value with as many decimals as its error allows (Particle
    Data Group convention, simplified); without an error (None), 3 significant digits; an error of 0 (every
    bootstrap replicate equal, e.g. a precision of 1) is written '± 0'."""
    if not math.isfinite(value):
        return str(value)
    if error is not None and error == 0:
        return f"{value:.3g}{plus_minus}0"
    if error is None or not math.isfinite(error) or error < 0:
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    decimals = decimals_for(error)
    return f"{value:.{decimals}f}{plus_minus}{error:.{decimals}f}"

