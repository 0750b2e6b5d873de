"""Training with non-leaky augmentation (data/augment.py): a real short run conditions the net on the vector,
"auto" is decided once and recorded, old runs train without it, and a stopped run resumes bit for bit."""

from __future__ import annotations

import json

import torch

from ddpm_studio.data.augment import AUGMENT_DIM
from ddpm_studio.training.checkpoint import load_model
from ddpm_studio.training.config import (
    AUTO_AUGMENT_BELOW,
    SMALL_SET_EMA_SIGMA_REL,
    RunConfig,
    TrainingConfig,
    with_augmentation,
)
from ddpm_studio.training.ema import power_ema_gamma
from ddpm_studio.training.events import FinishedEvent, StepEvent
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer


def _trainer(config, dataset, root, name):
    return Trainer(config, dataset, create_run(config, root=root, name=name), device="cpu")


def test_a_short_run_with_augmentation_conditions_the_network_on_the_vector(tiny_config, tiny_dataset, tmp_path):
    trainer = _trainer(tiny_config(augment="on", augment_p=0.5, max_steps=4), tiny_dataset, tmp_path, "on")
    seen: list[torch.Tensor | None] = []
    trainer.model.register_forward_pre_hook(
        lambda _m, _args, kwargs: seen.append(kwargs.get("augment_labels")), with_kwargs=True)
    start = trainer.model.augment_embed.weight.detach().clone()
    events: list = []
    trainer.run(events.append)
    assert events[-1] == FinishedEvent(step=4, reason="completed")
    train_calls = [v for v in seen if v is not None]
    assert len(train_calls) == 4 and all(v.shape == (4, AUGMENT_DIM) for v in train_calls)
    assert any(v.ne(0).any() for v in train_calls)  # at p = 0.5 some images were augmented
    assert not torch.equal(trainer.model.augment_embed.weight, start)  # the map learned
    saved = json.loads((trainer.run_dir.path / "config.json").read_text())
    assert saved["model"]["augment_dim"] == AUGMENT_DIM and saved["training"]["augment"] == "on"
    model, _, config = load_model(trainer.run_dir.path)
    assert config.model.augment_dim == AUGMENT_DIM and model.augment_embed is not None


def test_auto_is_decided_once_for_the_data_size_and_recorded(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(augment="auto", max_steps=1)
    assert len(tiny_dataset) < AUTO_AUGMENT_BELOW
    trainer = _trainer(config, tiny_dataset, tmp_path, "auto")
    assert trainer.config.training.augment == "on" and trainer.config.model.augment_dim == AUGMENT_DIM
    assert open_run(trainer.run_dir.path).config == trainer.config  # config.json says what the run does
    large = with_augmentation(config, AUTO_AUGMENT_BELOW)
    assert large.training.augment == "off" and large.model.augment_dim == 0
    assert large.training.ema_sigma_rel == 0.0  # a large set keeps the default EMA
    decided = with_augmentation(config, 10)
    assert with_augmentation(decided, 10_000) is decided  # a decided run (a resume) is never re-decided


def test_auto_is_the_default_and_brings_the_small_set_ema_unless_the_run_chose_its_ema(tiny_config, tiny_dataset,
                                                                                       tmp_path):
    assert TrainingConfig().augment == "auto"  # the small-set recipe, measured (bench/README.md)
    small = with_augmentation(tiny_config(augment="auto"), 200)
    assert small.training.augment == "on" and small.training.ema_sigma_rel == SMALL_SET_EMA_SIGMA_REL
    chosen = with_augmentation(tiny_config(augment="auto", ema_decay=0.999), 200)
    assert chosen.training.augment == "on" and chosen.training.ema_sigma_rel == 0.0  # the run's own EMA
    own = with_augmentation(tiny_config(augment="auto", ema_sigma_rel=0.05), 200)
    assert own.training.ema_sigma_rel == 0.05
    on = with_augmentation(tiny_config(augment="on"), 200)  # asked for augmentation alone: the EMA is untouched
    assert on.training.augment == "on" and on.training.ema_sigma_rel == 0.0
    trainer = _trainer(tiny_config(augment="auto", max_steps=1), tiny_dataset, tmp_path, "small")
    assert trainer.learner.ema.gamma == power_ema_gamma(SMALL_SET_EMA_SIGMA_REL)  # the EMA that trains is recorded
    assert open_run(trainer.run_dir.path).config.training.ema_sigma_rel == SMALL_SET_EMA_SIGMA_REL


def test_old_runs_and_the_off_mode_train_without_it(tiny_config, tiny_dataset, tmp_path):
    old = tiny_config().to_dict()
    del old["training"]["augment"], old["training"]["augment_p"], old["model"]["augment_dim"]
    loaded = RunConfig.from_dict(old)  # a config.json from before augmentation
    assert loaded.training.augment == "off" and loaded.model.augment_dim == 0
    assert TrainingConfig.LEGACY_DEFAULTS["augment"] == "off"
    trainer = _trainer(loaded, tiny_dataset, tmp_path, "old")
    assert trainer.model.augment_embed is None and trainer.config is loaded


def test_a_stopped_augmented_run_resumes_bit_for_bit(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(augment="on", augment_p=0.5, max_steps=6, checkpoint_every_steps=100)
    straight = _trainer(config, tiny_dataset, tmp_path, "straight")
    straight.run(lambda event: None)
    first = _trainer(config, tiny_dataset, tmp_path, "stopped")

    def stop(event):
        if isinstance(event, StepEvent) and event.step == 3:
            first.request_stop()

    first.run(stop)
    resumed = Trainer.resume(open_run(first.run_dir.path), tiny_dataset, device="cpu")
    assert resumed.step == 3 and resumed.config.model.augment_dim == AUGMENT_DIM
    events: list = []
    resumed.run(events.append)
    assert events[-1] == FinishedEvent(step=6, reason="completed")
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
