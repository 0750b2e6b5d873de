"""`train --augment off|on|auto --augment-p P`: the flags fill TrainingConfig, a bad value is one line, and a
resumed run keeps its own augmentation."""

from __future__ import annotations

import pytest

from ddpm_studio.cli import build_parser, config_from_args
from ddpm_studio.cli.main import main
from ddpm_studio.training.config import TrainingConfig


def _config(*flags: str):
    return config_from_args(build_parser().parse_args(["train", "--data", "builtin:glyphs?n=200", *flags]))


def test_the_flags_fill_the_training_config():
    assert _config().training.augment == TrainingConfig().augment
    config = _config("--augment", "on", "--augment-p", "0.15")
    assert (config.training.augment, config.training.augment_p) == ("on", 0.15)
    assert _config("--augment", "auto").training.augment == "auto"


def test_a_bad_probability_is_one_line(capsys):
    assert main(["train", "--data", "builtin:glyphs?n=20", "--augment", "on", "--augment-p", "1.5", "--quiet"]) != 0
    err = capsys.readouterr().err.strip()
    assert err == "ddpm-studio: error: augment_p must be a finite number >= 0.0 and <= 1, got 1.5"


def test_augmentation_cannot_be_changed_on_resume(capsys, tmp_path):
    code = main(["train", "--resume", str(tmp_path / "nothing"), "--augment", "on", "--runs-dir", str(tmp_path)])
    assert code != 0
    assert "--augment cannot be used with --resume" in capsys.readouterr().err


def test_an_unknown_mode_is_refused_by_the_parser():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--augment", "always"])
