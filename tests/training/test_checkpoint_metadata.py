"""Issue 23 F16 and issue 19 item 5: a checkpoint's metadata is read from its header alone by one reader, and a
wrongly typed metadata field names the file and the field."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file, save_file

from ddpm_studio.training.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_config


@pytest.fixture
def checkpoint(tmp_path, save_random_checkpoint):
    return save_random_checkpoint(tmp_path / "model.safetensors")


def _with_metadata(path, **changes):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())
    save_file(load_file(str(path)), str(path), metadata={**metadata, **changes})


def test_the_header_reader_gives_config_and_step(checkpoint):
    config, step = read_checkpoint_config(checkpoint)
    assert step == 1 and config.diffusion.timesteps == 20 and config == load_checkpoint(checkpoint).config


@pytest.mark.parametrize("step", ["abc", "-1", "1e3", "9" * 40])
def test_a_non_numeric_step_names_the_file_and_the_field(checkpoint, step):
    _with_metadata(checkpoint, step=step)
    for read in (read_checkpoint_config, load_checkpoint):
        with pytest.raises(CheckpointError, match=r"^model.safetensors: the metadata field step must be a whole "):
            read(checkpoint)
