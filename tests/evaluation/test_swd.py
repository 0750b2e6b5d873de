"""Multi-scale SWD (Karras et al. 2018): the pyramid is exact, identical descriptor sets are at 0, and on real
images the distance orders real-vs-real < blurred < noise."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.evaluation.pyramid import laplacian_pyramid, pyr_up, pyramid_resolutions
from ddpm_studio.evaluation.swd import level_descriptors, sliced_wasserstein, sliced_wasserstein_distance


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_laplacian_pyramid_reconstructs_the_image_exactly():
    x = torch.rand(2, 3, 32, 32, generator=gen()) * 2 - 1
    bands = laplacian_pyramid(x, 3)
    assert [b.shape[-1] for b in bands] == [32, 16, 8]
    image = bands[-1]
    for band in reversed(bands[:-1]):  # G_l = L_l + up(G_{l+1})
        image = band + pyr_up(image)
    torch.testing.assert_close(image, x, atol=1e-5, rtol=0)


def test_levels_for_our_image_sizes():
    assert pyramid_resolutions(16, 8) == [16, 8]
    assert pyramid_resolutions(32, 8) == [32, 16, 8]
    assert pyramid_resolutions(64, 8) == [64, 32, 16, 8]
    with pytest.raises(ValueError, match="smaller"):
        pyramid_resolutions(4, 8)


def test_descriptors_are_normalised_per_channel():
    level = torch.randn(16, 3, 16, 16, generator=gen()) * torch.tensor([1.0, 5.0, 0.1]).view(1, 3, 1, 1) + 3
    d = level_descriptors(level, 8, gen()).reshape(128, 3, 49)
    torch.testing.assert_close(d.mean(dim=(0, 2)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(d.std(dim=(0, 2)), torch.ones(3), atol=1e-3, rtol=0)


def test_identical_descriptor_sets_are_at_zero_and_order_does_not_matter():
    a = torch.randn(500, 147, generator=gen())
    assert sliced_wasserstein(a, a, gen()) == 0.0
    assert sliced_wasserstein(a, a[torch.randperm(500, generator=gen(1))], gen()) == 0.0
    shifted = sliced_wasserstein(a, a + 1.0, gen())
    assert shifted > 0.05  # W1 along unit u of a shift by 1·(1, ..., 1): |Σu| ≈ 0.8 on average


def test_real_halves_are_close_blur_in_between_noise_far(shapes, blurred, noise_like):
    reference, other = shapes[:256], shapes[512:640]
    kw = dict(descriptors_per_image=16, directions=64, repeats=2)
    same = sliced_wasserstein_distance(reference, reference, generator=gen(), **kw)
    real = sliced_wasserstein_distance(other, reference, generator=gen(), **kw)
    blur = sliced_wasserstein_distance(blurred(other), reference, generator=gen(), **kw)
    noise = sliced_wasserstein_distance(noise_like(other), reference, generator=gen(), **kw)
    assert list(real.per_level) == [32, 16, 8]
    assert same.mean < real.mean  # the estimator's floor: other random neighbourhoods of the same images
    assert real.mean < blur.mean < noise.mean
    assert blur.per_level[32] > 3 * real.per_level[32]  # the finest band sees the lost edges
    assert noise.mean > 4 * real.mean


def test_grayscale_and_seeded():
    x = torch.rand(40, 1, 16, 16, generator=gen()) * 2 - 1
    y = torch.rand(30, 1, 16, 16, generator=gen(1)) * 2 - 1
    first = sliced_wasserstein_distance(x, y, generator=gen(5))
    again = sliced_wasserstein_distance(x, y, generator=gen(5))
    assert first == again and list(first.per_level) == [16, 8]
