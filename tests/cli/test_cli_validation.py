"""`ddpm-studio train` says the validation split on start and the validation loss at the end (issue 24 item 2),
or that the set is too small to hold anything out."""

from __future__ import annotations

import json

ARGS = ["--size", "8", "--preset", "tiny", "--base-channels", "8", "--timesteps", "10", "--schedule", "linear",
        "--batch-size", "8", "--threads", "1", "--preview-every", "0", "--steps", "3"]


def test_train_says_the_split_and_the_validation_loss(cli_here, tmp_path):
    result = cli_here("train", "--data", "builtin:shapes?n=120", *ARGS, "--name", "v", "--runs-dir",
                      str(tmp_path / "runs"))
    assert result.code == 0, result.err
    assert ("ddpm-studio: validation: 32 of 120 images held out (never trained on), scored at fixed noise and 8 fixed "
            "timesteps") in result.err_lines
    stored = json.loads((tmp_path / "runs" / "v" / "validation.jsonl").read_text().splitlines()[-1])
    last = [line for line in result.err_lines if line.startswith("ddpm-studio: validation loss")]
    assert last == [f"ddpm-studio: validation loss {stored['loss']:.4f} at step 3 (32 held-out images, fixed noise, "
                    f"8 timesteps)"]


def test_train_on_a_set_too_small_to_hold_anything_out_says_so(cli_here, tmp_path):
    result = cli_here("train", "--data", "builtin:shapes?n=16", *ARGS, "--name", "s", "--runs-dir",
                      str(tmp_path / "runs"))
    assert result.code == 0, result.err
    assert ("ddpm-studio: 16 images are too few to hold out a validation split (it takes at least 96); training on "
            "all of them without a validation loss") in result.err_lines
    assert not any("validation loss" in line and "without" not in line for line in result.err_lines)
    assert not (tmp_path / "runs" / "s" / "validation.jsonl").exists()


def test_the_held_out_count_can_be_chosen_or_turned_off(cli_here, tmp_path):
    runs = tmp_path / "runs"
    result = cli_here("train", "--data", "builtin:shapes?n=120", *ARGS, "--validation-images", "40", "--name", "forty",
                      "--runs-dir", str(runs), "--quiet")
    assert result.code == 0, result.err
    assert json.loads((runs / "forty" / "config.json").read_text())["training"]["validation_images"] == 40
    assert json.loads((runs / "forty" / "validation.jsonl").read_text().splitlines()[-1])["images"] == 40
    result = cli_here("train", "--data", "builtin:shapes?n=120", *ARGS, "--validation-images", "0", "--name", "off",
                      "--runs-dir", str(runs))
    assert result.code == 0, result.err
    assert not any("validation" in line for line in result.err_lines)
    assert not (runs / "off" / "validation.jsonl").exists()


def test_a_held_out_count_the_data_cannot_spare_is_one_line_and_leaves_no_run(cli_here, tmp_path):
    runs = tmp_path / "runs"
    result = cli_here("train", "--data", "builtin:shapes?n=16", *ARGS, "--validation-images", "16", "--name", "all",
                      "--runs-dir", str(runs), "--quiet")
    assert result.code == 1 and result.err_lines == [
        "ddpm-studio: error: training.validation_images is 16, but the data has 16 images: at least one must be "
        "left to train on"]
    assert not (runs / "all").exists()
    refused = cli_here("train", "--resume", str(runs / "all"), "--validation-images", "3", "--runs-dir", str(runs))
    assert refused.code == 1 and "--validation-images cannot be used with --resume" in refused.err
