"""Class faithfulness: a k-NN label vote in a colour-blind silhouette embedding, boxed to the object."""

from __future__ import annotations

import math

import torch

from ddpm_studio.evaluation.faithfulness import (
    boxed_silhouette_features,
    class_faithfulness,
    faithful_votes,
    silhouette_features,
)


def _shape(kind: str, top: int, left: int, size: int, side: int = 16) -> torch.Tensor:
    """(3, side, side): a white square or a white upward triangle of `size` px on black, at (top, left)."""
    x = torch.full((3, side, side), -1.0)
    for r in range(size):
        if kind == "square":
            x[:, top + r, left:left + size] = 1.0
        else:  # rows widen from the apex by one pixel each
            centre = left + size // 2
            x[:, top + r, centre - r // 2:centre + (r + 1) // 2 + 1] = 1.0
    return x


def test_votes_pin_a_hand_made_case():
    real = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0], [5.0]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1, -1])  # the unlabelled image at 5.0 is never a neighbour
    samples = torch.tensor([[0.5], [11.5], [4.9], [5.1]])
    asked = torch.tensor([0, 0, 0, 1])
    assert faithful_votes(samples, asked, real, labels, k=1).tolist() == [True, False, True, False]
    # k = 3: sample 2 (4.9) has neighbours 2, 1, 0 -> three votes for 0; sample 3 (5.1): 2, 1, 10 -> one for 1
    assert faithful_votes(samples, asked, real, labels, k=3).tolist() == [True, False, True, False]


def test_silhouette_is_colour_blind():
    square = torch.full((1, 3, 8, 8), -0.8)
    square[..., 2:6, 2:6] = 0.9
    recoloured = torch.full((1, 3, 8, 8), 0.7)
    recoloured[..., 2:6, 2:6] = torch.tensor([-1.0, -0.2, 0.1]).view(1, 3, 1, 1)
    torch.testing.assert_close(silhouette_features(square), silhouette_features(recoloured))
    assert silhouette_features(square).shape == (1, 64)


def test_the_box_forgets_place_and_size_but_not_shape():
    small = boxed_silhouette_features(_shape("square", 1, 2, 4)[None])
    big = boxed_silhouette_features(_shape("square", 6, 3, 8)[None])
    triangle = boxed_silhouette_features(_shape("triangle", 6, 3, 8)[None])
    assert small.shape == (1, 256)
    assert torch.dist(small, big) < 0.25 * torch.dist(big, triangle)  # a square is a square wherever it is
    blank = boxed_silhouette_features(torch.full((1, 3, 16, 16), 0.3))  # nothing drawn: finite, whole frame
    assert torch.isfinite(blank).all()


def test_class_faithfulness_per_class():
    # real squares and triangles at one place and size; samples elsewhere and smaller: the box still matches them
    real = torch.stack([_shape("square", 0, 0, 8), _shape("square", 8, 8, 8),
                        _shape("triangle", 0, 0, 8), _shape("triangle", 8, 8, 8)])
    real_labels = torch.tensor([0, 0, 1, 1])
    samples = torch.stack([_shape("square", 4, 5, 6), _shape("triangle", 3, 2, 6), _shape("triangle", 9, 1, 6)])
    result = class_faithfulness(samples, torch.tensor([0, 0, 1]), real, real_labels, 3)
    assert math.isclose(result.share, 2 / 3, rel_tol=1e-6) and result.per_class[:2] == (0.5, 1.0)
    assert math.isnan(result.per_class[2]) and result.k == 1
    # the unboxed silhouette (the old embedding) is fooled by place: the same samples score worse
    plain = class_faithfulness(samples, torch.tensor([0, 0, 1]), real, real_labels, 3, embedding="silhouette")
    assert plain.share < result.share
