"""Improved precision and recall (Kynkäänniemi et al. 2019): the paper's subset/superset behaviour on known
distributions, and on real images in the chosen embedding."""

from __future__ import annotations

import torch

from ddpm_studio.evaluation.embeddings import EMBEDDINGS, embed
from ddpm_studio.evaluation.precision_recall import knn_radii, precision_recall


def gaussian(n: int, scale: float, seed: int, dim: int = 8) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)) * scale


def test_identical_sets_have_precision_and_recall_one():
    x = gaussian(300, 1.0, 0)
    pr = precision_recall(x, x, k=3)
    assert (pr.precision, pr.recall, pr.k) == (1.0, 1.0, 3)


def test_knn_radius_is_the_kth_other_point():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    assert knn_radii(x, 1).tolist() == [1.0, 1.0, 2.0, 3.0]
    assert knn_radii(x, 2).tolist() == [3.0, 2.0, 3.0, 5.0]


def test_subset_has_high_precision_low_recall_and_superset_the_reverse():
    real = gaussian(1000, 1.0, 0)
    subset = gaussian(1000, 0.3, 1)  # mode dropping: samples cover only the centre
    superset = gaussian(1000, 3.0, 2)  # samples spread beyond the data
    inside = precision_recall(real, subset)
    outside = precision_recall(real, superset)
    assert inside.precision > 0.95 and inside.recall < 0.3
    assert outside.recall > 0.95 and outside.precision < 0.3
    fresh = precision_recall(real, gaussian(1000, 1.0, 3))
    assert fresh.precision > 0.7 and fresh.recall > 0.7


def test_mode_dropping_on_real_images_keeps_precision_and_loses_recall(shapes):
    reference, other = embed(shapes[:512]), embed(shapes[512:])
    centre = other[0]
    one_mode = other[(other - centre).norm(dim=1).argsort()[:64]]  # the quarter of fresh images alike one image
    dropped = precision_recall(reference, one_mode)
    full = precision_recall(reference, other[:64])
    assert dropped.precision > 0.9 and dropped.recall < 0.5
    assert full.precision > 0.8 and full.recall > 0.8


def test_real_images_vs_noise_in_every_embedding(shapes, noise_like):
    reference, other = shapes[:256], shapes[512:640]
    for name in EMBEDDINGS:
        ref = embed(reference, name)
        real = precision_recall(ref, embed(other, name))
        noise = precision_recall(ref, embed(noise_like(other), name))
        assert real.precision > 0.8 and real.recall > 0.8, name
        assert noise.precision < 0.05 and noise.recall < 0.05, name


def test_grayscale_images_embed():
    x = torch.rand(10, 1, 16, 16) * 2 - 1
    for name in EMBEDDINGS:
        assert embed(x, name).shape[0] == 10
