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
