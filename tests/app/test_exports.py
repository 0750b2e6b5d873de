"""Exports (no Qt): one grid function, atomic PNG/GIF writes, strips and step lists."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ddpm_studio.app import exports


def _batch(b: int = 4, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (b, 8, 8, c), dtype=np.uint8)


def test_tile_grid_shape_and_white_gaps():
    grid = exports.tile(_batch(4), ncols=2)
    assert grid.shape == (2 + 2 * 10, 2 + 2 * 10, 3) and (grid[0] == 255).all()


def test_png_and_gif_are_written_atomically(tmp_path):
    png = exports.save_png(tmp_path / "sub" / "g.png", exports.tile(_batch(2, 1)))
    assert Image.open(png).mode == "L"
    frames = [exports.tile(_batch(4, seed=k)) for k in range(3)]
    gif = exports.save_gif(tmp_path / "a.gif", frames, fps=10)
    with Image.open(gif) as img:
        assert img.n_frames == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "sub"]  # no temporary file left


def test_a_failed_gif_leaves_the_old_file(tmp_path):
    target = tmp_path / "a.gif"
    target.write_bytes(b"old")
    with pytest.raises(ValueError):
        exports.save_gif(target, [np.zeros((4, 4, 2), np.uint8)])
    assert target.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


def test_save_images_one_png_each(tmp_path):
    paths = exports.save_images(tmp_path, _batch(3))
    assert [p.name for p in paths] == ["sample_000.png", "sample_001.png", "sample_002.png"]


def test_strip_and_steps():
    strip = exports.make_strip([_batch(4), _batch(4)], rows=2)  # two steps side by side, two samples down
    assert strip.shape == (2 + 2 * 10, 2 * (2 + 1 * 10), 3)
    assert exports.parse_steps("0, 2, -1", 6) == [0, 2, 5]
    with pytest.raises(ValueError):
        exports.parse_steps("7", 6)
    assert exports.even_steps(11, 3) == [0, 5, 10]
