"""`train --data FOLDER` makes the app's proposal for the folder (issue 22 N4), says so, and --help shows defaults."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli.conftest import TINY


def _digits(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8), "L").save(folder / f"{i:02d}.png")
    return folder


def _flags_without_size() -> list[str]:
    flags = list(TINY)
    at = flags.index("--size")
    del flags[at:at + 2]
    return [f for f in flags if f != "--quiet"]


def test_train_on_a_folder_of_grey_16px_images_follows_the_data(cli_here, tmp_path: Path) -> None:
    data = _digits(tmp_path / "digits16")
    done = cli_here("train", "--data", str(data), *_flags_without_size(), "--steps", "1", "--name", "d",
                    "--runs-dir", str(tmp_path / "runs"))
    assert done.code == 0, done.err
    config = json.loads((tmp_path / "runs" / "d" / "config.json").read_text())
    assert (config["data"]["image_size"], config["data"]["channels"], config["data"]["hflip"]) == (16, 1, False)
    assert config["model"]["in_channels"] == 1
    assert f"data {data}: 16x16, 1 channel(s), flip off (from the data" in done.err


def test_the_gui_form_makes_the_same_proposal_for_the_folder(qtbot, tmp_path: Path) -> None:
    pytest.importorskip("pytestqt")
    from ddpm_studio.app.data_proposal import profile_source
    from ddpm_studio.cli import build_parser, config_from_args
    from ddpm_studio.gui.training.form import TrainingForm

    data = _digits(tmp_path / "digits16")
    form = TrainingForm()
    qtbot.addWidget(form)
    form.source.setText(str(data))
    form.apply_data_profile(profile_source(str(data)))
    cli = config_from_args(build_parser().parse_args(["train", "--data", str(data)]))
    assert form.run_config().data == cli.data


def test_train_help_shows_defaults(cli_here) -> None:
    done = cli_here("train", "--help")
    assert done.code == 0
    text = " ".join(done.out.split())
    for needle in ("--batch-size BATCH_SIZE (default: 16)", "--timesteps TIMESTEPS T (default: 1000)",
                   "--size SIZE image side in pixels (default: proposed from the data",
                   "--hflip, --no-hflip random horizontal flips (default: on, off for small grey images"):
        assert needle in text, needle


def test_train_says_which_network_it_trains(cli_here, tmp_path: Path) -> None:
    done = cli_here("train", "--data", "builtin:shapes?n=16", "--size", "32", "--base-channels", "8", "--steps", "1",
                    "--timesteps", "10", "--batch-size", "2", "--name", "deep", "--runs-dir", str(tmp_path / "runs"),
                    "--threads", "1", "--preview-every", "0", "--validation-images", "0")
    assert done.code == 0, done.err
    config = json.loads((tmp_path / "runs" / "deep" / "config.json").read_text())
    assert config["model"]["channel_mults"] == [1, 2, 2]
    assert "model: tiny UNet, width 8, 3 levels (mults 1,2,2: a 8×8 bottleneck at 32 px), " in done.err
