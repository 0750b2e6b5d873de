"""Inpainting as both faces run it (app/inpainting.py, app/inpainting_masks.py, `ddpm-studio inpaint`) on a random
tiny model: the known pixels come back exactly, the errors are measured where they should be, every bad mask or
image is one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_studio.app.inpainting import InpaintSettings, fill_errors, load_images, run_inpainting
from ddpm_studio.app.inpainting_masks import MASK_PRESETS, check_mask, preset_mask, read_mask

DATA = "builtin:shapes?n=48"


@pytest.fixture
def checkpoint(tmp_path, save_random_checkpoint):
    return save_random_checkpoint(tmp_path / "m.safetensors", DATA)


@pytest.mark.parametrize("name", MASK_PRESETS)
def test_presets_mark_part_of_the_image(name):
    mask = preset_mask(name, 16)
    assert mask.shape == (1, 1, 16, 16) and 0.2 < float(mask.mean()) < 0.6
    assert torch.equal(check_mask(mask, 16), mask)


def test_fills_keep_the_known_pixels_and_measure_both_modes(checkpoint):
    images = load_images(DATA, [0, 1], (3, 8, 8))
    mask = preset_mask("half-right", 8)
    settings = InpaintSettings(steps=6, jump_length=2, resample=2, fills=2)
    outcome = run_inpainting(checkpoint, images, mask, settings, device="cpu")
    assert [r.mode for r in outcome.results] == ["replace", "repaint"]
    replace, repaint = outcome.results
    assert replace.nfe == 6 and repaint.nfe == 12
    for result in outcome.results:
        assert result.images.shape == (2, 2, 8, 8, 3) and result.masked_mse.shape == (2, 2)
        assert np.array_equal(result.images[:, :, :, :4], np.broadcast_to(outcome.originals[:, :, :4],
                                                                          result.images[:, :, :, :4].shape))
        assert (result.seam_mse >= 0).all() and result.copies is not None and result.copies.shape == (2, 2)
    assert outcome.mask[:, 4:].all() and not outcome.mask[:, :4].any()


def test_fill_errors_count_only_the_filled_pixels_and_the_seam():
    truth = torch.zeros(1, 1, 8, 8)
    mask = preset_mask("half-right", 8)
    fills = truth.clone()
    fills[..., 7] = 1.0  # wrong only at the far edge: in the filled region, away from the seam
    masked, seam = fill_errors(fills, truth, mask)
    assert masked.item() == pytest.approx(8 / 32) and seam.item() == 0.0
    fills[..., 4] = 1.0  # wrong next to the known half: the seam
    assert fill_errors(fills, truth, mask)[1].item() > 0


def test_bad_masks_and_images_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="is 16x16 px and the model makes 8x8"):
        check_mask(preset_mask("centre", 16), 8)
    assert check_mask(preset_mask("centre", 16), 8, scale=True).shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match="marks nothing to fill"):
        check_mask(torch.zeros(1, 1, 8, 8), 8)
    with pytest.raises(ValueError, match="covers the whole image"):
        check_mask(torch.ones(1, 1, 8, 8), 8)
    (tmp_path / "mask.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot be read as an image"):
        read_mask(tmp_path / "mask.png")
    with pytest.raises(ValueError, match="must be one of half-left"):
        preset_mask("diagonal", 8)
    Image.fromarray(np.dstack([np.full((8, 8), 250, np.uint8), np.zeros((8, 8), np.uint8),
                               np.zeros((8, 8), np.uint8)])).save(tmp_path / "red.png")
    with pytest.raises(ValueError, match="is a colour image and the model makes grey images"):
        load_images(str(tmp_path / "red.png"), [0], (1, 8, 8))
    assert load_images(str(tmp_path / "red.png"), [0], (3, 8, 8)).shape == (1, 3, 8, 8)


def test_the_cli_writes_grids_and_errors(tmp_path, checkpoint, capsys):
    from ddpm_studio.__main__ import main

    mask = np.zeros((16, 16), np.uint8)
    mask[4:12, 4:12] = 255
    Image.fromarray(mask).save(tmp_path / "hole.png")
    out = tmp_path / "out"
    args = ["inpaint", str(checkpoint), DATA, "--index", "0,1", "--mask", str(tmp_path / "hole.png"), "--count",
            "1", "--steps", "4", "--jump", "2", "--resample", "2", "--out", str(out), "--json",
            str(tmp_path / "m.json")]
    assert main(args) == 1
    assert "scale it to fit (--scale-mask in the CLI)" in capsys.readouterr().err
    assert main([*args, "--scale-mask"]) == 0
    printed = capsys.readouterr().out
    assert "replace" in printed and "repaint" in printed and f"wrote {out / 'inpaint_repaint.png'}" in printed
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["modes"]["repaint"]["nfe"] == 8 and (out / "inpaint_replace.png").is_file()
