"""Issue 23 F12, F13: probe indexes the usable images of a folder (a broken file is skipped, as train, eval and
the Dataset tab skip it); eval and sweep say that files were skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddpm_studio.app.probe import probe_images


def _folder(path: Path, good: int, broken: tuple[str, ...] = ("aaa_broken.png",)) -> Path:
    path.mkdir()
    rng = np.random.default_rng(0)
    for name in broken:
        (path / name).write_bytes(b"not an image")
    for i in range(good):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path / f"ok{i:02d}.png")
    return path


def test_probe_images_index_the_usable_images(tmp_path):
    folder = _folder(tmp_path / "d", 3, ("aaa_broken.png", "ok00x_broken.png"))
    images = probe_images(str(folder), [0, 1, 2], 8, 3)
    assert images.shape == (3, 3, 8, 8)
    with pytest.raises(ValueError, match="image index 3 is outside 0..2"):
        probe_images(str(folder), [3], 8, 3)


def test_probe_on_a_folder_with_a_broken_first_file(cli_here, tmp_path, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors")
    folder = _folder(tmp_path / "d", 4)
    result = cli_here("probe", str(checkpoint), "--data", str(folder), "--index", "0,1", "--t", "5", "--steps", "1",
                      "--out", str(tmp_path / "p.png"), "--threads", "1")
    assert result.code == 0, result.err
    assert (tmp_path / "p.png").is_file()


def test_sweep_and_eval_say_that_files_were_skipped(cli_here, tmp_path, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors")
    folder = _folder(tmp_path / "d", 24)
    sweep = cli_here("sweep", str(checkpoint), "--data", str(folder), "--methods", "ddim", "--nfe", "2", "--count",
                     "8", "--reference-count", "12", "--batch-size", "8", "--quiet", "--threads", "1")
    assert sweep.code == 0, sweep.err
    assert "aaa_broken.png" in sweep.err and "skipped" in sweep.err
    evaluation = cli_here("eval", str(checkpoint), "--data", str(folder), "--count", "8", "--reference-count", "12",
                          "--steps", "2", "--quiet", "--threads", "1")
    assert evaluation.code == 0, evaluation.err
    assert "aaa_broken.png" in evaluation.err and "skipped" in evaluation.err
