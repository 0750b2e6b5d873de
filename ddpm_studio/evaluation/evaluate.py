"""One evaluation of generated images against real ones: SWD, precision/recall, memorisation, optional FID/KID.

    reference = prepare_reference(real_images, config)            # once per data set (cache it)
    report = evaluate(samples, reference, training_images, config) # each time
    floor = real_vs_real_reference(real_images, config)           # the same metrics, real vs real

Every metric has a floor: two disjoint halves of the same data are not at distance 0 for finite sets.
`real_vs_real_reference` evaluates one part of the real images as if it were the samples, against the rest,
at the sizes an `evaluate` call of `config.sample_count` samples against `config.reference_count` real images
uses, so the two reports are read side by side.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ddpm_studio.evaluation.config import EvaluationConfig
from ddpm_studio.evaluation.embeddings import embed
from ddpm_studio.evaluation.fid import FeatureNetwork, FIDResult, fid_kid
from ddpm_studio.evaluation.memorisation import MemorisationResult, memorisation
from ddpm_studio.evaluation.precision_recall import PrecisionRecall, knn_radii, pairwise_distances, precision_recall
from ddpm_studio.evaluation.swd import SWDResult, sliced_wasserstein_distance
from ddpm_studio.evaluation.uncertainty import (
    BOOTSTRAP_SEED,
    combined_error,
    coverage_replicates,
    half_manifold_replicates,
    share_replicates,
    standard_error,
)

__all__ = ["PreparedReference", "EvaluationReport", "prepare_reference", "evaluate", "real_vs_real_reference",
           "check_images"]


def check_images(images: Tensor, what: str) -> Tensor:
    """Concise errors for inputs that are not (N, C, H, W) float images in [-1, 1] with C in {1, 3}."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"{what} must be (N, C, H, W) with C = 1 or 3, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"{what} must be float images in [-1, 1], got {images.dtype}")
    if images.shape[0] and (images.min() < -1.001 or images.max() > 1.001):
        raise ValueError(f"{what} must lie in [-1, 1] (found {float(images.min()):.2f}..{float(images.max()):.2f})")
    return images.detach().float().cpu()


@dataclass(frozen=True)
class PreparedReference:
    """Real images with what every evaluation against them reuses: embedding, k-NN radii, FID features."""

    images: Tensor  # (M, C, H, W) in [-1, 1]
    features: Tensor  # (M, F) in config.embedding
    radii: Tensor  # (M,) k-NN radii of `features`
    embedding: str
    k: int
    fid_features: Tensor | None = None  # (M, F') of the FID network, if one was given


def prepare_reference(images: Tensor, config: EvaluationConfig,
                      network: FeatureNetwork | None = None) -> PreparedReference:
    """Embed the real images once (and pass them through the FID network when given)."""
    config.validate()
    images = check_images(images, "reference images")
    features = embed(images, config.embedding)
    return PreparedReference(images=images, features=features, radii=knn_radii(features, config.k),
                             embedding=config.embedding, k=config.k,
                             fid_features=network.features(images) if network is not None else None)


@dataclass(frozen=True)
class EvaluationReport:
    """Every metric of one evaluation. Lower is better for SWD, FID, KID and the memorised share; higher for
    precision and recall."""

    swd: SWDResult
    precision_recall: PrecisionRecall
    memorisation: MemorisationResult | None  # None without training images
    fid: FIDResult | None  # None without a feature network
    sample_count: int
    reference_count: int
    training_count: int
    seconds: float
    errors: dict[str, float] = field(default_factory=dict)  # bootstrap standard errors, scalars' keys and units

    def scalars(self) -> dict[str, float]:
        """The headline numbers, flat (for JSON lines, tables and plots); SWD in the paper's ×10³ units."""
        values: dict[str, float] = {"swd": self.swd.mean * 1e3}
        values.update({f"swd_{side}px": v * 1e3 for side, v in self.swd.per_level.items()})
        values["precision"] = self.precision_recall.precision
        values["recall"] = self.precision_recall.recall
        if self.memorisation is not None:
            values["memorised"] = self.memorisation.share
            values["nn_distance"] = float(self.memorisation.distances[:, 0].median())
        if self.fid is not None:
            values["fid"] = self.fid.fid
            values["kid"] = self.fid.kid * 1e3
        return values

    def to_dict(self) -> dict[str, Any]:
        """Scalars plus counts and timing, JSON-ready."""
        return {"metrics": self.scalars(), "sample_count": self.sample_count,
                "reference_count": self.reference_count, "training_count": self.training_count,
                "k": self.precision_recall.k, "seconds": self.seconds, "errors": dict(self.errors)}


def evaluate(samples: Tensor, reference: Tensor | PreparedReference, training_images: Tensor | None = None,
             config: EvaluationConfig | None = None, *, network: FeatureNetwork | None = None,
             bootstraps: int = 0) -> EvaluationReport:
    """Evaluate samples (N, C, H, W) in [-1, 1] against real images (or a PreparedReference); the memorisation
    check runs against `training_images` when given; FID/KID when a feature network is given. `bootstraps` > 0
    adds the bootstrap standard errors of SWD, precision, recall and the memorised share (uncertainty.py),
    from what the metrics computed anyway."""
    config = config or EvaluationConfig()
    config.validate()
    started = time.perf_counter()
    samples = check_images(samples, "samples")
    if not isinstance(reference, PreparedReference):
        reference = prepare_reference(reference, config, network)
    elif reference.embedding != config.embedding or reference.k != config.k:
        raise ValueError("the prepared reference was made with another embedding or k than this config")
    if samples.shape[1:] != reference.images.shape[1:]:
        raise ValueError(f"samples {tuple(samples.shape[1:])} and reference {tuple(reference.images.shape[1:])} "
                         "differ in shape")
    if samples.shape[0] <= config.k:
        raise ValueError(f"need more than k={config.k} samples, got {samples.shape[0]}")
    generator = torch.Generator().manual_seed(config.seed)
    swd = sliced_wasserstein_distance(samples, reference.images, generator=generator,
                                      descriptors_per_image=config.swd_descriptors_per_image,
                                      directions=config.swd_directions, repeats=config.swd_repeats,
                                      min_resolution=config.swd_min_resolution, bootstraps=bootstraps)
    features = embed(samples, config.embedding)
    pr = precision_recall(reference.features, features, config.k, real_radii=reference.radii)
    memo = None
    if training_images is not None:
        training_images = check_images(training_images, "training images")
        memo = memorisation(samples, training_images, threshold=config.memorisation_threshold,
                            neighbours=config.memorisation_neighbours, show=config.nearest_shown,
                            include_flips=config.include_flips)
    fid = None
    if network is not None:
        fid = fid_kid(samples, reference.images, network, generator=generator, kid_subsets=config.kid_subsets,
                      kid_subset_size=config.kid_subset_size, reference_features=reference.fid_features)
    errors = _bootstrap_errors(swd, reference, features, memo, config.k, bootstraps) if bootstraps else {}
    return EvaluationReport(swd=swd, precision_recall=pr, memorisation=memo, fid=fid, sample_count=samples.shape[0],
                            reference_count=reference.images.shape[0],
                            training_count=0 if training_images is None else training_images.shape[0],
                            seconds=time.perf_counter() - started, errors=errors)


def _bootstrap_errors(swd: SWDResult, reference: PreparedReference, features: Tensor,
                      memo: MemorisationResult | None, k: int, bootstraps: int) -> dict[str, float]:
    """Standard errors in the units of EvaluationReport.scalars(), from the computed distances and flags."""
    rng = np.random.default_rng(BOOTSTRAP_SEED + 1)
    errors = {"swd": (swd.error or 0.0) * 1e3}
    errors.update({f"swd_{side}px": e * 1e3 for side, e in swd.errors.items()})
    to_real = pairwise_distances(features, reference.features)  # (N, M)
    errors["precision"] = standard_error(coverage_replicates(to_real, reference.radii, rng, bootstraps))
    radii = knn_radii(features, k)
    errors["recall"] = combined_error(standard_error(coverage_replicates(to_real.T, radii, rng, bootstraps)),
                                      standard_error(half_manifold_replicates(to_real.T, radii, rng, bootstraps)))
    if memo is not None:
        errors["memorised"] = standard_error(share_replicates(memo.memorised, rng, bootstraps))
    return errors


def real_vs_real_reference(images: Tensor, config: EvaluationConfig | None = None, *,
                           network: FeatureNetwork | None = None, with_memorisation: bool = True) -> EvaluationReport:
    """The metrics' floor: `config.sample_count` real images evaluated against `config.reference_count` others
    (disjoint, drawn by config.seed). The memorisation check runs against every image but the sample part (the
    user's training set minus the images posing as samples), so its flagged share is that of fresh images at
    about the training set's size (`with_memorisation=False`: skipped, for callers that evaluate without training
    images). Needs sample_count + reference_count images (fewer: two halves)."""
    config = config or EvaluationConfig()
    config.validate()
    images = check_images(images, "real images")
    n = images.shape[0]
    if n < 2 * (config.k + 1):
        raise ValueError(f"need at least {2 * (config.k + 1)} real images for a real-vs-real reference, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed + 1))
    count = config.sample_count if n >= config.sample_count + config.reference_count else n // 2
    part_a, rest = order[:count], order[count:]
    reference = images[rest[:config.reference_count]]
    return evaluate(images[part_a], reference, images[rest] if with_memorisation else None, config, network=network)
