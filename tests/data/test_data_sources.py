"""Folder, zip and built-in sources, open_source and the lazy folder scanner."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddpm_studio.data import DataSourceError, ImageDecodeError, ImageSource, iter_image_paths, open_source
from ddpm_studio.data.sources import FolderSource, SyntheticSource, ZipSource


def _save(path: Path, colour: tuple[int, int, int], fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 10), colour).save(path, fmt)


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    _save(root / "b.png", (0, 0, 255))
    _save(root / "A.JPG", (255, 0, 0), "JPEG")
    _save(root / "sub" / "deeper" / "c.webp", (0, 255, 0), "WEBP")
    _save(root / "sub" / "d.bmp", (9, 9, 9))
    _save(root / ".hidden.png", (1, 1, 1))
    _save(root / ".cache" / "e.png", (1, 1, 1))
    (root / "readme.txt").write_text("not an image")
    (root / "sub" / "data.csv").write_text("1,2,3")
    return root


def test_folder_is_recursive_sorted_and_skips_hidden(tree: Path) -> None:
    source = open_source(tree)
    assert isinstance(source, FolderSource) and isinstance(source, ImageSource)
    assert source.keys() == ["A.JPG", "b.png", "sub/d.bmp", "sub/deeper/c.webp"]
    assert len(source) == 4 and source.spec == str(tree) and source.name == "images"
    assert source.load(0).getpixel((5, 5))[0] > 240  # A.JPG is red
    assert source.load(3).getpixel((5, 5))[1] > 240  # c.webp (lossy) is green
    assert open_source(str(tree)).keys() == source.keys()  # deterministic, str or Path


def test_iter_image_paths_is_lazy_and_cancellable(tree: Path) -> None:
    paths = list(iter_image_paths(tree))
    assert [p.name for p in paths] == ["A.JPG", "b.png", "d.bmp", "c.webp"]
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 2

    assert len(list(iter_image_paths(tree, cancel=cancel))) < len(paths)
    assert list(iter_image_paths(tree / "missing")) == []


def test_non_ascii_folder_and_file_names(tmp_path: Path) -> None:
    root = tmp_path / "données_фото_写真"
    _save(root / "ñandú" / "猫_01.png", (10, 20, 30))
    source = open_source(root)
    assert source.keys() == ["ñandú/猫_01.png"]
    assert source.load(0).getpixel((0, 0)) == (10, 20, 30)


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty_set"
    empty.mkdir()
    (empty / "notes.txt").write_text("no pictures here")
    with pytest.raises(DataSourceError, match="no image files found in folder.*empty_set"):
        open_source(empty)


def test_missing_path_and_plain_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="no such folder or file.*nowhere"):
        open_source(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataSourceError, match="is a file, not a folder"):
        open_source(tmp_path / "notes.txt")
    _save(tmp_path / "single.png", (0, 0, 0))
    with pytest.raises(DataSourceError, match="is a file, not a folder"):
        open_source(tmp_path / "single.png")
    with pytest.raises(DataSourceError, match="no data source"):
        open_source("  ")


def test_zip_source_reads_members_lazily(tmp_path: Path, tree: Path) -> None:
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(tree).as_posix())
        z.writestr("__MACOSX/._b.png", b"junk")
        z.writestr("folder/", b"")
        z.writestr("bad/truncated.png", (tree / "b.png").read_bytes()[:30])
    source = open_source(archive)
    assert isinstance(source, ZipSource) and source.spec == str(archive)
    assert source.keys() == ["A.JPG", "b.png", "bad/truncated.png", "sub/d.bmp", "sub/deeper/c.webp"]
    assert source.load(1).getpixel((3, 3)) == (0, 0, 255)
    with pytest.raises(ImageDecodeError) as info:
        source.load(2)
    assert info.value.name == "bad/truncated.png"
    clone = pickle.loads(pickle.dumps(source))  # survives DataLoader worker processes
    assert clone.load(3).getpixel((0, 0)) == (9, 9, 9)


def test_damaged_and_empty_zip_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(DataSourceError, match="cannot read zip archive.*broken.zip"):
        open_source(tmp_path / "broken.zip")
    with zipfile.ZipFile(tmp_path / "texts.zip", "w") as z:
        z.writestr("a.txt", "hello")
    with pytest.raises(DataSourceError, match="no image files found in zip.*texts.zip"):
        open_source(tmp_path / "texts.zip")


def test_builtin_specs(tmp_path: Path) -> None:
    source = open_source("builtin:shapes")
    assert isinstance(source, SyntheticSource) and len(source) == 4096 and source.spec == "builtin:shapes"
    small = open_source("builtin:glyphs?n=10&seed=3")
    assert len(small) == 10 and small.spec == "builtin:glyphs?n=10&seed=3"
    assert np.asarray(small.load(9)).shape == (64, 64, 3)
    for bad, message in [("builtin:clouds", "unknown built-in set"), ("builtin:shapes?m=3", "unknown parameter"),
                         ("builtin:shapes?n=abc", "not an integer"), ("builtin:shapes?n=0", "between")]:
        with pytest.raises(DataSourceError, match=message):
            open_source(bad)
