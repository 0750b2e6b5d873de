"""Real images for the metric tests: the built-in synthetic sets, decoded once per session."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.data import DataConfig, load_dataset
from ddpm_studio.data.transforms import uint8_to_float


def builtin_images(spec: str, size: int = 32, channels: int = 3) -> torch.Tensor:
    """(N, C, size, size) float in [-1, 1], un-augmented."""
    dataset = load_dataset(DataConfig(source=spec, image_size=size, channels=channels, hflip=False))
    return uint8_to_float(dataset.cache)


@pytest.fixture(scope="session")
def shapes() -> torch.Tensor:
    """768 built-in shapes at 32 px: 512 as the reference, 256 as a second real set."""
    return builtin_images("builtin:shapes?n=768")


@pytest.fixture(scope="session")
def blurred():
    """A strong blur (two binomial down/up passes): real layout, lost edges."""
    from ddpm_studio.evaluation.pyramid import pyr_down, pyr_up
    return lambda x: pyr_up(pyr_up(pyr_down(pyr_down(x))))


@pytest.fixture(scope="session")
def noise_like():
    """Gaussian noise clipped to [-1, 1], shaped like a given set."""
    return lambda x, seed=0: torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).clamp(-1, 1)
