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
    ({"max_steps": None, "epochs": None}, "max_steps, epochs or max_minutes"),
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
    with pytest.raises(ValueError, match="learning_rate is an unknown TrainingConfig field"):
        TrainingConfig.from_dict({"batch_size": 4, "learning_rate": 1e-3})


def test_wrong_types_name_the_file_and_the_key():
    data = json.loads(RunConfig().to_json())
    data["training"]["batch_size"] = "a"
    with pytest.raises(ValueError, match=r"^config.json: training.batch_size must be an integer, got 'a'$"):
        RunConfig.from_dict(data)
    data = json.loads(RunConfig().to_json())
    data["model"]["channel_mults"] = [1, "2"]
    with pytest.raises(ValueError, match=r"^run.json: model.channel_mults must be a list of integers"):
        RunConfig.from_json(json.dumps(data), source="run.json")
    data = json.loads(RunConfig().to_json())
    data["data"]["hflip"] = 1  # JSON's 1 is not a bool
    with pytest.raises(ValueError, match="data.hflip must be true or false"):
        RunConfig.from_dict(data)


def test_one_policy_for_unknown_keys_in_every_section():
    for section in ("model", "diffusion", "data", "training"):
        data = json.loads(RunConfig().to_json())
        data[section]["typo"] = 1
        with pytest.raises(ValueError, match=rf"^config.json: {section}.typo is an unknown \w+Config field$"):
            RunConfig.from_dict(data)


def test_range_errors_also_name_the_file():
    data = json.loads(RunConfig().to_json())
    data["training"]["ema_decay"] = 2.0
    with pytest.raises(ValueError, match=r"^config.json: training: ema_decay must be"):
        RunConfig.from_dict(data)


def test_missing_keys_take_defaults_and_legacy_defaults():
    data = json.loads(RunConfig().to_json())
    del data["training"]["lr_schedule"], data["training"]["lr"]
    config = RunConfig.from_dict(data)
    assert config.training.lr_schedule == "constant"  # what a file from before lr_schedule meant
    assert config.training.lr == TrainingConfig().lr


def test_json_ints_load_as_floats():
    data = json.loads(RunConfig().to_json())
    data["training"]["lr"] = 1
    data["training"]["grad_clip"] = 2
    config = RunConfig.from_dict(data)
    assert isinstance(config.training.lr, float) and config.training.grad_clip == 2.0


def test_defaults_are_the_measured_demo_recipe():
    """The README's demo recipe (issue 10: FD 2.03 vs 3.21): v objective, batch 16, lr 1.5e-3, cosine, EMA 0.995."""
    config = RunConfig()
    assert config.diffusion.objective == "v"
    t = config.training
    assert (t.batch_size, t.lr, t.lr_schedule, t.warmup_steps, t.ema_decay) == (16, 1.5e-3, "cosine", 100, 0.995)
    # issue 10's grid at equal CPU time: no per-level linear attention, no loss weighting, the warm-up EMA
    assert (config.model.linear_attention, config.model.mid_attention, config.model.base_channels) == (False, True, 32)
    assert (config.diffusion.snr_gamma, t.ema_sigma_rel, t.preview_sampler, t.preview_sampler_steps) == (
        0.0, 0.0, "euler", 12)


def test_the_demo_model_config_still_loads():
    from ddpm_studio.engine import UNET_PRESETS
    from ddpm_studio.training.checkpoint import load_model
    from ddpm_studio.training.runs import DEMO_CHECKPOINT

    model, diffusion, config = load_model(DEMO_CHECKPOINT)
    # the README's command: the defaults + --minutes 30 (a planned budget, not a step count)
    t = config.training
    assert config.diffusion.objective == "v" and (t.max_steps, t.max_minutes) == (None, 30.0)
    assert t.planned_steps == 19_517 and config.model == UNET_PRESETS["tiny"]
