"""Issue 23 F9: a crafted training state's optimizer options and random states are checked before use, as its
buffers already are: one CheckpointError naming the state file and the field, never a KeyError or a silent use."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.training.checkpoint import CheckpointError, state_path_for
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from ddpm_studio.data.dataset import load_dataset
    from tests.training.conftest import tiny_config

    config = tiny_config(max_steps=2, checkpoint_every_steps=2)
    run = create_run(config, root=tmp_path_factory.mktemp("runs"), name="r")
    dataset = load_dataset(config.data)
    Trainer(config, dataset, run, device="cpu").run(lambda event: None)
    return run.path, dataset


def _craft(path, change) -> None:
    state_file = state_path_for(open_run(path).latest_checkpoint())
    state = torch.load(state_file, weights_only=True)
    change(state)
    torch.save(state, state_file)


def _set_group(key, value):
    def change(state):
        state["optimizer"]["param_groups"][0][key] = value
    return change


def _drop_rng(state):
    del state["rng"][0]["sampler"]


@pytest.mark.parametrize("change, words", [
    (_set_group("betas", (5.0,)), "betas must be two numbers in [0, 1)"),
    (_set_group("amsgrad", True), "amsgrad must be false"),
    (_set_group("eps", -1.0), "eps must be a finite number > 0"),
    (_set_group("capturable", True), "capturable must be false"),
    (_set_group("lr", float("nan")), "lr must be a finite number"),
    (_drop_rng, "lacks a usable 'sampler' generator state"),
])
def test_a_crafted_training_state_is_refused_naming_the_field(trained, tmp_path, change, words):
    import shutil

    source, dataset = trained
    run_path = tmp_path / "r"
    shutil.copytree(source, run_path)
    (run_path / ".lock").unlink(missing_ok=True)
    _craft(run_path, change)
    with pytest.raises(CheckpointError) as info:
        Trainer.resume(open_run(run_path), dataset, device="cpu")
    message = str(info.value)
    assert message.startswith("step_00000002.state.pt cannot be resumed: ") and words in message, message
