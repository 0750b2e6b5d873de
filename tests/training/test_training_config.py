"""TrainingConfig / RunConfig: JSON round trip and one-line validation errors."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ddpm_studio.training.config import RunConfig, TrainingConfig


def test_run_config_json_round_trip(tiny_config):
    config = tiny_config(max_steps=None, epochs=3, mixed_precision="bf16")
    text = config.to_json()
    assert json.loads(text)["model"]["channel_mults"] == [1, 2]
    again = RunConfig.from_json(text)
    assert again == config and again.model.channel_mults == (1, 2)


def test_defaults_are_valid():
    RunConfig().validate()
    TrainingConfig().validate()


@pytest.mark.parametrize("changes, needle", [
    ({"batch_size": 0}, "batch_size"),
    ({"lr": float("nan")}, "lr"),
    ({"ema_decay": 1.5}, "ema_decay"),
    ({"max_steps": None, "epochs": None}, "max_steps or epochs"),
    ({"mixed_precision": "fp8"}, "mixed_precision"),
    ({"keep_last": 0}, "keep_last"),
    ({"num_threads": 0}, "num_threads"),
])
def test_training_config_rejects_bad_values(changes, needle):
    with pytest.raises(ValueError, match=needle):
        replace(TrainingConfig(), **changes).validate()


def test_run_config_checks_agreement_between_parts(tiny_config):
    config = tiny_config()
    with pytest.raises(ValueError, match="in_channels"):
        replace(config, model=replace(config.model, in_channels=1)).validate()
    with pytest.raises(ValueError, match="learned_variance"):
        replace(config, model=replace(config.model, learned_variance=True)).validate()
    with pytest.raises(ValueError, match="multiple of 2"):
        replace(config, data=replace(config.data, image_size=9)).validate()


@pytest.mark.parametrize("text, needle", [
    ("{not json", "not valid JSON"),
    ('{"format": "something else"}', "not a DDPM Studio run configuration"),
    ('{"format": "ddpm-studio.run/1", "model": {}}', "lacks"),
])
def test_from_json_rejects_foreign_or_broken_files(text, needle):
    with pytest.raises(ValueError, match=needle):
        RunConfig.from_json(text)


def test_unknown_training_keys_are_an_error():
    with pytest.raises(ValueError, match="unknown TrainingConfig field"):
        TrainingConfig.from_dict({"batch_size": 4, "learning_rate": 1e-3})
