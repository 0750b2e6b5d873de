"""ImageDataset: decode once into the cache, skip and report bad files, augment cheaply, load_dataset."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ddpm_studio.data import (
    DataConfig,
    DataLoadCancelled,
    DataSourceError,
    ImageDataset,
    Problem,
    load_dataset,
    open_source,
)
from ddpm_studio.data.sources import SyntheticSource


def _mixed_folder(root: Path) -> Path:
    """4 good images (one 16-bit, one RGBA) and 3 bad files."""
    (root / "nested").mkdir(parents=True)
    Image.new("RGB", (20, 12), (250, 0, 0)).save(root / "a_red.png")
    Image.new("RGB", (12, 20), (0, 0, 250)).save(root / "nested" / "b_blue.jpg", quality=95)
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(root / "c_white16.png")
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(root / "d_clear.png")
    (root / "e_empty.png").write_bytes(b"")
    (root / "f_text.jpg").write_text("hello")
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), np.uint8)).save(buffer, "JPEG")
    (root / "g_cut.jpg").write_bytes(buffer.getvalue()[:200])
    return root


def test_bad_files_are_skipped_counted_and_named(tmp_path: Path) -> None:
    folder = _mixed_folder(tmp_path / "mixed")
    progress: list[tuple[int, int]] = []
    ds = ImageDataset(open_source(folder), DataConfig(source=str(folder), image_size=8, hflip=False),
                      on_progress=lambda done, total: progress.append((done, total)))
    assert len(ds) == 4 and ds.keys == ["a_red.png", "c_white16.png", "d_clear.png", "nested/b_blue.jpg"]
    assert {p.name for p in ds.problems} == {"e_empty.png", "f_text.jpg", "g_cut.jpg"}
    assert all(isinstance(p, Problem) and p.reason for p in ds.problems)
    reasons = {p.name: p.reason for p in ds.problems}
    assert "empty" in reasons["e_empty.png"] and "not an image" in reasons["f_text.jpg"]
    assert "truncated" in reasons["g_cut.jpg"]
    assert progress[0] == (0, 7) and progress[-1] == (7, 7)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    images = ds.uint8_images()  # (4, 8, 8, 3) in key order
    assert images.shape == (4, 8, 8, 3)
    assert images[0, 4, 4, 0] > 240 and images[1].min() == 255 and images[2].min() == 255
    assert images[3, 4, 4, 2] > 235


def test_all_bad_folder_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "all_bad"
    folder.mkdir()
    (folder / "x.png").write_bytes(b"")
    (folder / "y.jpg").write_text("nope")
    with pytest.raises(DataSourceError, match=r"none of the 2 files in '.*all_bad' could be decoded"):
        load_dataset(DataConfig(source=str(folder)))


class CountingSource(SyntheticSource):
    """The real shapes set, counting how often each item is decoded."""

    def __init__(self, n: int) -> None:
        super().__init__("shapes", n=n)
        self.loads = 0

    def load(self, index, *, min_size=None):
        self.loads += 1
        return super().load(index, min_size=min_size)


def test_images_are_decoded_once_and_cached() -> None:
    source = CountingSource(12)
    ds = ImageDataset(source, DataConfig(image_size=16, hflip=False), workers=2)
    assert source.loads == 12
    assert ds.cache.shape == (12, 3, 16, 16) and ds.cache.dtype == torch.uint8
    for _ in range(3):  # three epochs
        for i in range(len(ds)):
            x = ds[i]
            assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and -1 <= x.min() <= x.max() <= 1
    assert source.loads == 12
    assert torch.equal(ds[5], ds[5])  # no augmentation configured: deterministic


def test_hflip_augments_per_item_and_follows_the_generator() -> None:
    config = DataConfig(source="builtin:shapes?n=6", image_size=16, hflip=True)
    ds = load_dataset(config, generator=torch.Generator().manual_seed(0))
    plain = ds.uint8_images([2])[0]
    seen = {"plain" if np.array_equal(u, plain) else "flip" if np.array_equal(u, plain[:, ::-1]) else "?"
            for u in (np.moveaxis(((ds[2] + 1) * 127.5).round().byte().numpy(), 0, -1) for _ in range(24))}
    assert seen == {"plain", "flip"}
    a = ds.batch([0, 1, 2, 3], torch.Generator().manual_seed(5))
    b = ds.batch([0, 1, 2, 3], torch.Generator().manual_seed(5))
    assert a.shape == (4, 3, 16, 16) and torch.equal(a, b)


def test_random_crop_grayscale_and_dataloader() -> None:
    config = DataConfig(source="builtin:glyphs?n=8", image_size=16, channels=1, hflip=True, random_crop=True)
    ds = load_dataset(config)
    assert ds.cache.shape == (8, 1, 18, 18) and ds.image_shape == (1, 16, 16)
    batch = next(iter(DataLoader(ds, batch_size=4, shuffle=True)))
    assert batch.shape == (4, 1, 16, 16) and batch.dtype == torch.float32


def test_zip_dataset_with_a_bad_member(tmp_path: Path) -> None:
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i, colour in enumerate([(255, 0, 0), (0, 255, 0)]):
            buffer = io.BytesIO()
            Image.new("RGB", (10, 10), colour).save(buffer, "PNG")
            z.writestr(f"img/{i}.png", buffer.getvalue())
        z.writestr("img/2.png", b"garbage")
    ds = load_dataset(DataConfig(source=str(archive), image_size=8, hflip=False))
    assert len(ds) == 2 and [p.name for p in ds.problems] == ["img/2.png"]
    assert ds.uint8_images([1])[0, 0, 0].tolist() == [0, 255, 0]


def test_cancel_and_memory_limit() -> None:
    with pytest.raises(DataLoadCancelled):
        load_dataset(DataConfig(source="builtin:shapes?n=20", image_size=8), cancel=lambda: True)
    with pytest.raises(DataSourceError, match="memory limit"):
        ImageDataset(open_source("builtin:shapes?n=100"), DataConfig(image_size=64), max_cache_bytes=10_000)
    with pytest.raises(ValueError, match="channels"):
        load_dataset(DataConfig(source="builtin:shapes?n=2", channels=2))


def test_config_round_trip() -> None:
    config = DataConfig(source="builtin:glyphs?n=100", image_size=24, channels=1, hflip=False, random_crop=True)
    assert DataConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="future_field is an unknown DataConfig field"):  # one policy: typed_config
        DataConfig.from_dict({**config.to_dict(), "future_field": 1})
