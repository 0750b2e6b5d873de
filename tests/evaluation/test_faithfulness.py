"""Class faithfulness: a k-NN label vote in a colour-blind silhouette embedding."""

from __future__ import annotations

import math

import torch

from ddpm_studio.evaluation.faithfulness import class_faithfulness, faithful_votes, silhouette_features


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


def test_class_faithfulness_per_class():
    def blob(row: int) -> torch.Tensor:
        x = torch.full((3, 8, 8), -1.0)
        x[:, row:row + 2, 3:5] = 1.0
        return x

    real = torch.stack([blob(0), blob(1), blob(5), blob(6)])
    real_labels = torch.tensor([0, 0, 1, 1])
    samples = torch.stack([blob(0), blob(6), blob(5)])
    result = class_faithfulness(samples, torch.tensor([0, 0, 1]), real, real_labels, 3)
    assert math.isclose(result.share, 2 / 3, rel_tol=1e-6) and result.per_class[:2] == (0.5, 1.0)
    assert math.isnan(result.per_class[2]) and result.k == 1
