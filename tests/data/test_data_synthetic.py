"""Built-in synthetic sets: deterministic per index, varied, plain backgrounds, any size."""

from __future__ import annotations

import numpy as np
import pytest

from ddpm_studio.data.synthetic import BUILTIN_DATASETS, SyntheticSource, parse_builtin_spec


@pytest.mark.parametrize("kind", BUILTIN_DATASETS)
def test_same_index_same_pixels_across_instances(kind: str) -> None:
    a, b = SyntheticSource(kind, n=50), SyntheticSource(kind, n=50)
    for index in (0, 7, 49):
        assert np.array_equal(np.asarray(a.load(index)), np.asarray(b.load(index)))
    assert not np.array_equal(np.asarray(a.load(0)), np.asarray(SyntheticSource(kind, n=50, seed=1).load(0)))


@pytest.mark.parametrize("kind", BUILTIN_DATASETS)
def test_items_look_varied(kind: str) -> None:
    source = SyntheticSource(kind, n=40)
    images = np.stack([np.asarray(source.load(i), dtype=np.float64) for i in range(40)])  # (N, 64, 64, 3)
    assert images.shape == (40, 64, 64, 3)
    flat = images.reshape(40, -1)
    distinct = {hash(row.tobytes()) for row in flat}
    assert len(distinct) == 40
    assert images.mean(axis=(1, 2)).std(axis=0).min() > 20  # mean colours spread over the set
    per_image_contrast = images.reshape(40, -1, 3).std(axis=1).mean(axis=1)
    assert per_image_contrast.min() > 8  # every image has a visible figure on its background


def test_shapes_have_a_plain_background() -> None:
    source = SyntheticSource("shapes", n=30)
    for i in range(30):
        pixels = np.asarray(source.load(i))
        corners = {tuple(pixels[y, x]) for y in (0, -1) for x in (0, -1)}
        assert len(corners) == 1  # shapes stay inside the frame: corners show the background


def test_glyph_ink_covers_a_reasonable_fraction() -> None:
    source = SyntheticSource("glyphs", n=20)
    for i in range(20):
        pixels = np.asarray(source.load(i), dtype=np.int32)
        background = pixels[0, 0]
        ink = np.abs(pixels - background).sum(-1) > 60
        assert 0.04 < ink.mean() < 0.6


def test_min_size_renders_the_same_drawing_larger() -> None:
    source = SyntheticSource("shapes", n=5)
    small, large = source.load(3), source.load(3, min_size=128)
    assert small.size == (64, 64) and large.size == (128, 128)
    shrunk = np.asarray(large.reduce(2), dtype=np.int16)
    assert np.abs(shrunk - np.asarray(small, dtype=np.int16)).mean() < 3


def test_index_out_of_range_and_spec_round_trip() -> None:
    source = SyntheticSource("glyphs", n=3, size=32)
    with pytest.raises(IndexError):
        source.load(3)
    assert source.spec == "builtin:glyphs?n=3&size=32"
    assert parse_builtin_spec(source.spec) == ("glyphs", {"n": 3, "size": 32, "seed": 0})
    assert source.keys() == ["glyphs_00000", "glyphs_00001", "glyphs_00002"]
