"""app.exports for people (issue 13 items 8 and 20): chunked, cancellable GIFs; nearest scaling; captions."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ddpm_studio.app import exports as export


def frames(n: int = 5) -> list[np.ndarray]:
    return [np.full((8, 12, 3), 40 * i, np.uint8) for i in range(n)]


def test_gif_progress_follows_the_frames_and_captions_are_drawn(tmp_path):
    seen = []
    path = export.save_gif(tmp_path / "a.gif", frames(), captions=[f"step {i}" for i in range(5)], scale=4,
                           progress=lambda done, total: seen.append((done, total)))
    assert [d for d, _ in seen] == [0, 1, 2, 3, 4, 6] and {t for _, t in seen} == {6}
    with Image.open(path) as img:
        assert img.n_frames == 5
        assert img.width == 48 and img.height > 32  # 4x, plus the caption band
        band = np.asarray(img.convert("RGB"))[: img.height - 32]
    assert (band < 100).any() and (band == 255).any()  # dark text on white


def test_gif_cancel_writes_nothing(tmp_path):
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2  # stop before the third frame

    with pytest.raises(export.ExportCancelled):
        export.save_gif(tmp_path / "b.gif", frames(), should_stop=stop)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one


def test_frames_may_be_lazy():
    class Lazy:
        def __init__(self):
            self.read = []

        def __len__(self):
            return 3

        def __getitem__(self, i):
            self.read.append(i)
            return frames(3)[i]

    lazy = Lazy()
    seen = []
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        export.save_gif(Path(tmp) / "c.gif", lazy, progress=lambda d, t: seen.append((d, list(lazy.read))))
    assert seen[0] == (0, [0]) and seen[1] == (1, [0, 1])  # frame i is read when the encoder reaches it


def test_upscale_is_nearest_and_auto_scale_targets_512_px():
    image = np.arange(2 * 3 * 1, dtype=np.uint8).reshape(2, 3, 1)
    big = export.upscale(image, 3)
    assert big.shape == (6, 9, 1) and np.array_equal(big[::3, ::3], image) and np.array_equal(big[2::3, 2::3], image)
    assert export.auto_scale((138, 138, 3)) == 4 and export.auto_scale((1000, 600)) == 1
    assert export.auto_scale((8, 8)) == export.MAX_SCALE


def test_png_scale_and_caption_and_strip_column_labels(tmp_path):
    grid = np.full((10, 20, 1), 128, np.uint8)
    with Image.open(export.save_png(tmp_path / "p.png", grid, scale=2, caption=["DDIM · 50 steps"])) as img:
        assert img.width == 40 and img.height > 20 and img.mode == "RGB"
    batches = [np.zeros((4, 8, 8, 3), np.uint8) for _ in range(3)]
    plain = export.make_strip(batches, rows=2)
    labelled = export.make_strip(batches, rows=2, scale=2, column_labels=["t = 9", "t = 5", "t = 0"])
    assert labelled.shape[1] == 2 * plain.shape[1] and labelled.shape[0] > 2 * plain.shape[0]
    with pytest.raises(ValueError, match="labels"):
        export.make_strip(batches, column_labels=["t = 9"])
