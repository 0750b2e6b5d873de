"""Transforms: ranges, shapes, centre crop, augmentation, the uint8 inverse and the grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_studio.data.transforms import ImageTransform, make_grid, random_crop, random_hflip, stored_size, to_uint8


def _bands(w: int = 60, h: int = 30) -> Image.Image:
    """Red left band, green centre, blue right band (each w/3 wide)."""
    array = np.zeros((h, w, 3), np.uint8)
    array[:, : w // 3, 0] = 255
    array[:, w // 3: 2 * w // 3, 1] = 255
    array[:, 2 * w // 3:, 2] = 255
    return Image.fromarray(array)


def test_rgb_output_shape_dtype_and_range() -> None:
    x = ImageTransform(16, 3)(_bands())
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert x.min() == -1.0 and x.max() == 1.0  # black and full saturation reach the ends


def test_resize_shorter_side_then_centre_crop_keeps_the_centre() -> None:
    u = to_uint8(ImageTransform(10, 3)(_bands()))  # 60x30 -> 20x10 -> centre 10x10 = the green band
    assert u.shape == (10, 10, 3)
    assert u[:, 2:8, 1].min() > 200 and u[:, 2:8, 0].max() < 40 and u[:, 2:8, 2].max() < 40


def test_grayscale_is_single_channel_luma() -> None:
    x = ImageTransform(8, 1)(Image.new("RGB", (8, 8), (255, 0, 0)))
    assert x.shape == (1, 8, 8)
    assert int(to_uint8(x)[0, 0, 0]) == 76  # ITU-R 601-2: 0.299 * 255
    rgb = ImageTransform(8, 3)(Image.new("L", (8, 8), 200))
    assert rgb.shape == (3, 8, 8) and torch.allclose(rgb[0], rgb[2])


def test_inverse_round_trip_is_exact() -> None:
    t = ImageTransform(12, 3)
    prepared = t.prepare(_bands(24, 24))  # uint8 (3, 12, 12)
    back = to_uint8(t.augment(prepared))
    assert np.array_equal(back, prepared.permute(1, 2, 0).numpy())
    batch = torch.stack([t.augment(prepared)] * 2)
    assert to_uint8(batch).shape == (2, 12, 12, 3)


def test_to_uint8_clamps_and_maps_endpoints() -> None:
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 5.0]).view(1, 1, 5)
    assert to_uint8(x)[..., 0].tolist() == [[0, 0, 128, 255, 255]]
    with pytest.raises(ValueError):
        to_uint8(torch.zeros(4, 4))


def test_hflip_follows_the_generator() -> None:
    t = ImageTransform(12, 3, hflip=True)
    prepared = t.prepare(_bands(24, 24))
    plain = ImageTransform(12, 3).augment(prepared)
    outs = [t.augment(prepared, torch.Generator().manual_seed(s)) for s in range(20)]
    kinds = ["flip" if torch.equal(o, plain.flip(-1)) else "plain" if torch.equal(o, plain) else "?" for o in outs]
    assert set(kinds) == {"flip", "plain"}  # both outcomes occur, nothing else does
    again = [t.augment(prepared, torch.Generator().manual_seed(s)) for s in range(20)]
    assert all(torch.equal(a, b) for a, b in zip(outs, again))  # same seed, same flips


def test_random_crop_uses_the_larger_stored_image() -> None:
    t = ImageTransform(16, 3, random_crop=True)
    assert t.stored_size == stored_size(16, True) == 18
    prepared = torch.arange(3 * 18 * 18, dtype=torch.int64).view(3, 18, 18).remainder(256).to(torch.uint8)
    corners = set()
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        crop = random_crop(prepared, 16, g)
        assert crop.shape == (3, 16, 16)
        corners.add(int(crop[0, 0, 0]))
    assert len(corners) > 3  # the crop window moves
    assert t(Image.new("RGB", (40, 30), (1, 2, 3))).shape == (3, 16, 16)


def test_batch_crop_and_flip_match_per_sample_semantics() -> None:
    x = torch.randint(0, 256, (6, 3, 10, 10), dtype=torch.uint8)
    crops = random_crop(x, 7, torch.Generator().manual_seed(1))
    assert crops.shape == (6, 3, 7, 7)
    for i in range(6):  # every crop is some 7x7 window of its own source image
        windows = x[i].unfold(1, 7, 1).unfold(2, 7, 1)  # (3, 4, 4, 7, 7)
        assert any(torch.equal(windows[:, a, b], crops[i]) for a in range(4) for b in range(4))
    flips = random_hflip(x, torch.Generator().manual_seed(2))
    assert all(torch.equal(flips[i], x[i]) or torch.equal(flips[i], x[i].flip(-1)) for i in range(6))


def test_make_grid_layout() -> None:
    images = np.stack([np.full((4, 5, 3), 10 * (i + 1), np.uint8) for i in range(5)])
    grid = make_grid(images, pad=1)  # ceil(sqrt(5)) = 3 columns, 2 rows
    assert grid.shape == (1 + 2 * 5, 1 + 3 * 6, 3)
    assert grid[1, 1, 0] == 10 and grid[1, 7, 0] == 20 and grid[6, 1, 0] == 40
    assert grid[0, 0, 0] == 0 and grid[-1, -1, 0] == 0  # padding and the empty last cell
    assert make_grid(images[:, :, :, :1], ncols=5, pad=0).shape == (4, 25, 1)
    with pytest.raises(ValueError):
        make_grid(np.zeros((0, 4, 4, 3), np.uint8))
