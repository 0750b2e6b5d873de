"""Class faithfulness without a downloaded classifier: do a sample's nearest real images carry the class it was
asked for? (issue 20, item 5)

A k-nearest-neighbour vote in an evaluation embedding: sample i, asked for class c_i, is *faithful* when more
than half of its k nearest labelled real images (Euclidean distance between features) carry c_i. The share of
faithful samples is the figure; per class it is the share among the samples asked for that class. Real held-out
images scored the same way give its ceiling in that embedding.

The embedding is `silhouette` (below), not precision/recall's colour-and-layout `pyramid`: the built-in sets
draw every class in every colour, so colour decides their neighbours. Measured on 512 held-out real images
against the 4096 training images at 16 px (share of faithful real images, k = 1 / k = 5):
shapes: silhouette 0.918 / 0.857, pyramid - / 0.486, pixels - / 0.518, random_conv - / 0.512;
glyphs: silhouette 0.943 / 0.850, pyramid - / 0.273, pixels - / 0.516, random_conv - / 0.158.
Hence silhouette with k = 1, the nearest real image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ddpm_studio.evaluation.embeddings import embed

__all__ = ["FAITHFULNESS_EMBEDDING", "FAITHFULNESS_K", "Faithfulness", "class_faithfulness", "faithful_votes",
           "silhouette_features"]

FAITHFULNESS_K = 1  # neighbours that vote; a strict majority must carry the requested class (measured above)
FAITHFULNESS_EMBEDDING = "silhouette"  # or any embeddings.EMBEDDINGS name
SILHOUETTE_SIDE = 16  # the silhouette is area-pooled to at most this side


def silhouette_features(x: Tensor, side: int = SILHOUETTE_SIDE) -> Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, s·s), s = min(side, H): where the image departs from its background,
    colour-blind. Per image: grey = channel mean; background = the median of its border pixels;
    |grey - background| scaled to a maximum of 1, area-pooled to s × s."""
    grey = x.float().mean(dim=1, keepdim=True)  # (N, 1, H, W)
    border = torch.cat([grey[..., 0, :], grey[..., -1, :], grey[..., :, 0], grey[..., :, -1]], dim=-1)
    background = border.flatten(1).median(dim=1).values.view(-1, 1, 1, 1)
    mask = (grey - background).abs()
    mask = mask / mask.flatten(1).amax(dim=1).clamp_min(1e-6).view(-1, 1, 1, 1)
    return F.adaptive_avg_pool2d(mask, min(side, x.shape[-1])).flatten(1)


def _features(images: Tensor, embedding: str) -> Tensor:
    return silhouette_features(images) if embedding == "silhouette" else embed(images, embedding)


@dataclass(frozen=True)
class Faithfulness:
    """The share of faithful samples, overall and per requested class (NaN for a class no sample asked for)."""

    share: float
    per_class: tuple[float, ...]  # indexed by class
    k: int


def faithful_votes(sample_features: Tensor, requested: Tensor, real_features: Tensor, real_labels: Tensor,
                   k: int = FAITHFULNESS_K) -> Tensor:
    """(N,) bool: more than k/2 of each sample's k nearest real images (features (M, F), labels (M,)) carry its
    requested label (N,). Real images with label < 0 (unlabelled) are not neighbours."""
    labelled = real_labels >= 0
    features, labels = real_features[labelled], real_labels[labelled]
    if features.shape[0] < k:
        raise ValueError(f"class faithfulness needs at least k = {k} labelled real images, got {features.shape[0]}")
    distances = torch.cdist(sample_features.double(), features.double())  # (N, M)
    nearest = distances.topk(k, dim=1, largest=False).indices  # (N, k)
    agree = (labels[nearest] == requested[:, None]).sum(dim=1)  # (N,) votes for the requested class
    return agree * 2 > k


def class_faithfulness(samples: Tensor, requested: Tensor, real: Tensor, real_labels: Tensor, num_classes: int, *,
                       k: int = FAITHFULNESS_K, embedding: str = FAITHFULNESS_EMBEDDING) -> Faithfulness:
    """Faithfulness of `samples` (N, C, H, W) in [-1, 1], asked for `requested` (N,), against labelled `real`
    images (M, C, H, W) with `real_labels` (M,) in the `embedding` feature space."""
    votes = faithful_votes(_features(samples, embedding), requested, _features(real, embedding), real_labels, k)
    per_class = tuple(float(votes[requested == c].float().mean()) if bool((requested == c).any()) else float("nan")
                      for c in range(num_classes))
    return Faithfulness(float(votes.float().mean()), per_class, k)
