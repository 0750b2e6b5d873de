"""Memorisation ratio test (Carlini et al. 2023): copies of training images (also mirrored) are flagged with their
index, fresh images of the same kind are not."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.evaluation.memorisation import memorisation, nearest_training_images


def test_copies_are_flagged_and_fresh_images_are_not(shapes):
    training, fresh = shapes[:512], shapes[512:540]
    copied = torch.tensor([3, 77, 140, 401, 500])
    copies = training[copied].clone()
    copies[1] = copies[1].flip(-1)  # a mirrored copy
    noise = torch.randn(copies[2].shape, generator=torch.Generator().manual_seed(0))
    copies[2] = (copies[2] + 0.02 * noise).clamp(-1, 1)  # a slightly noisy copy
    result = memorisation(torch.cat([copies, fresh]), training, threshold=1 / 3, neighbours=50)
    assert result.memorised[:5].all() and not result.memorised[5:].any()
    assert result.indices[:5, 0].tolist() == copied.tolist()
    assert result.mirrored[1, 0] and not result.mirrored[0, 0]
    assert result.distances[0, 0] == 0 and result.ratio[0] == 0
    assert result.share == pytest.approx(5 / 33)
    assert result.indices.shape == (33, 3) and (result.distances[:, :-1] <= result.distances[:, 1:]).all()
    assert (result.ratio[5:] > 0.5).all()  # fresh images: the nearest is about as far as the rest


def test_without_flips_a_mirrored_copy_is_not_an_exact_match(shapes):
    training = shapes[:64]
    index, distance, mirrored = nearest_training_images(training[5:6].flip(-1), training, 2, include_flips=False)
    assert not mirrored.any()
    index_f, distance_f, _ = nearest_training_images(training[5:6].flip(-1), training, 2)
    assert index_f[0, 0] == 5 and distance_f[0, 0] == 0 and distance[0, 0] >= distance_f[0, 0]


def test_distance_is_rms_pixel_difference():
    a = torch.zeros(1, 1, 4, 4)
    b = torch.stack([torch.full((1, 4, 4), 0.5), torch.full((1, 4, 4), -1.0)])
    _, distance, _ = nearest_training_images(a, b, 2, include_flips=False)
    torch.testing.assert_close(distance, torch.tensor([[0.5, 1.0]]))
