"""Improved precision and recall, Kynkäänniemi et al. 2019, §2 (eqs. 1–2), over k-NN manifolds of features.

The manifold of a feature set Φ is the union of hyperspheres around each φ ∈ Φ with radius the distance to
its k-th nearest neighbour in Φ (k = 3 in the paper):

    f(φ, Φ) = 1 if ‖φ - φ'‖₂ ≤ ‖φ' - NN_k(φ', Φ)‖₂ for some φ' ∈ Φ, else 0          (eq. 1)
    precision(Φ_r, Φ_g) = mean_{φ_g ∈ Φ_g} f(φ_g, Φ_r),  recall = mean_{φ_r ∈ Φ_r} f(φ_r, Φ_g)   (eq. 2)

Precision: the share of samples that land on the real manifold (fidelity); recall: the share of real images
the samples' manifold covers (diversity).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["PrecisionRecall", "precision_recall", "knn_radii", "manifold_coverage", "pairwise_distances"]


@dataclass(frozen=True)
class PrecisionRecall:
    precision: float  # share of samples inside the real manifold
    recall: float  # share of real images inside the samples' manifold
    k: int


def _pairwise(a: Tensor, b: Tensor, chunk: int = 1024) -> Tensor:
    """Euclidean distances (len(a), len(b)) in float32, chunked over a."""
    return torch.cat([torch.cdist(a[i:i + chunk], b) for i in range(0, a.shape[0], chunk)])


def pairwise_distances(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distances (len(a), len(b)) in float32 (for the bootstrap, which reuses them)."""
    return _pairwise(a.float(), b.float())


def knn_radii(features: Tensor, k: int) -> Tensor:
    """Distance of each point to its k-th nearest other point of the same set, (N,)."""
    if features.shape[0] <= k:
        raise ValueError(f"a k-NN manifold with k={k} needs more than {k} points, got {features.shape[0]}")
    distances = _pairwise(features, features)
    return distances.kthvalue(k + 1, dim=1).values  # the 1st smallest is the point itself (distance 0)


def manifold_coverage(queries: Tensor, manifold: Tensor, radii: Tensor) -> float:
    """Eq. (1) averaged: the share of query points inside some hypersphere (manifold[j], radii[j])."""
    inside = (_pairwise(queries, manifold) <= radii[None, :]).any(dim=1)
    return float(inside.float().mean())


def precision_recall(real: Tensor, generated: Tensor, k: int = 3, *,
                     real_radii: Tensor | None = None) -> PrecisionRecall:
    """Eq. (2) for feature sets real (N, F) and generated (M, F); `real_radii` may be precomputed (knn_radii)."""
    real, generated = real.float(), generated.float()
    radii_r = knn_radii(real, k) if real_radii is None else real_radii
    radii_g = knn_radii(generated, k)
    return PrecisionRecall(precision=manifold_coverage(generated, real, radii_r),
                           recall=manifold_coverage(real, generated, radii_g), k=k)
