"""Training with non-leaky augmentation (data/augment.py): a real short run conditions the net on the vector,
"auto" is decided once by the data size and the step total (a time budget's at its plan) and recorded, old runs
train without it, and a stopped run resumes bit for bit."""

from __future__ import annotations

import json
from dataclasses import replace

import torch

from ddpm_studio.data.augment import AUGMENT_DIM
from ddpm_studio.training.checkpoint import load_model
from ddpm_studio.training.config import (
    AUTO_AUGMENT_BELOW,
    AUTO_RECIPE_MIN_STEPS,
    SMALL_SET_EMA_SIGMA_REL,
    RunConfig,
    TrainingConfig,
    with_augmentation,
)
from ddpm_studio.training.ema import power_ema_gamma
from ddpm_studio.training.events import FinishedEvent, StepEvent
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer
from tests.training.conftest import TickClock, budget_config


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


def test_auto_is_decided_by_the_data_size_and_the_step_total(tiny_config):
    long, short = AUTO_RECIPE_MIN_STEPS, AUTO_RECIPE_MIN_STEPS - 1
    config = tiny_config(augment="auto")
    small_long = with_augmentation(config, 200, long)  # the small-set recipe: a small set, a long run
    assert small_long.training.augment == "on" and small_long.model.augment_dim == AUGMENT_DIM
    assert small_long.training.ema_sigma_rel == SMALL_SET_EMA_SIGMA_REL
    small_short = with_augmentation(config, 200, short)  # too short to pay (bench/README.md, "The recipe by budget")
    assert small_short.training.augment == "off" and small_short.model.augment_dim == 0
    assert small_short.training.ema_sigma_rel == 0.0
    endless = with_augmentation(tiny_config(augment="auto", max_steps=None), 200, None)  # runs until stopped
    assert endless.training.augment == "on"
    large = with_augmentation(config, AUTO_AUGMENT_BELOW, long)
    assert large.training.augment == "off" and large.model.augment_dim == 0 and large.training.ema_sigma_rel == 0.0
    assert with_augmentation(small_long, 10_000, 1) is small_long  # a decided run (a resume) is never re-decided


def test_a_time_budget_waits_for_its_plan_with_the_map_built(tiny_config):
    budget = tiny_config(augment="auto", max_steps=None, max_minutes=10.0)
    pending = with_augmentation(budget, 200, None)  # the step total is not planned yet
    assert pending.training.augment == "auto" and pending.model.augment_dim == AUGMENT_DIM
    assert pending.training.ema_sigma_rel == 0.0  # the default EMA until the plan
    assert with_augmentation(pending, 200, None) is pending

    def planned(steps):  # what Trainer._plan_budget decides with: the plan recorded, then the step total
        return with_augmentation(replace(pending, training=replace(pending.training, planned_steps=steps)), 200, steps)

    planned_short = planned(100)
    assert planned_short.training.augment == "off" and planned_short.model.augment_dim == AUGMENT_DIM  # map kept
    planned_long = planned(AUTO_RECIPE_MIN_STEPS)
    assert planned_long.training.augment == "on" and planned_long.training.ema_sigma_rel == SMALL_SET_EMA_SIGMA_REL
    assert with_augmentation(budget, AUTO_AUGMENT_BELOW, None).training.augment == "off"  # a large set: no wait
    # a step limit beside the budget is only an upper bound: a long one still waits, a short one decides at once
    assert with_augmentation(budget, 200, AUTO_RECIPE_MIN_STEPS * 10).training.augment == "auto"
    assert with_augmentation(budget, 200, AUTO_RECIPE_MIN_STEPS - 1).training.augment == "off"


def test_the_trainer_decides_auto_at_the_start_and_records_it(tiny_config, tiny_dataset, tmp_path):
    assert TrainingConfig().augment == "auto"  # the small-set recipe, measured (bench/README.md)
    assert len(tiny_dataset) < AUTO_AUGMENT_BELOW
    trainer = _trainer(tiny_config(augment="auto", max_steps=AUTO_RECIPE_MIN_STEPS), tiny_dataset, tmp_path, "long")
    assert trainer.config.training.augment == "on" and trainer.config.model.augment_dim == AUGMENT_DIM
    assert trainer.learner.ema.gamma == power_ema_gamma(SMALL_SET_EMA_SIGMA_REL)  # the EMA that trains is recorded
    assert open_run(trainer.run_dir.path).config == trainer.config  # config.json says what the run does
    short = _trainer(tiny_config(augment="auto", max_steps=1), tiny_dataset, tmp_path, "short")
    assert short.config.training.augment == "off" and short.model.augment_embed is None
    assert short.learner.ema.gamma is None and open_run(short.run_dir.path).config == short.config


def test_the_small_set_ema_only_where_the_run_kept_the_default_ema(tiny_config):
    long = AUTO_RECIPE_MIN_STEPS
    chosen = with_augmentation(tiny_config(augment="auto", ema_decay=0.999), 200, long)
    assert chosen.training.augment == "on" and chosen.training.ema_sigma_rel == 0.0  # the run's own EMA
    own = with_augmentation(tiny_config(augment="auto", ema_sigma_rel=0.05), 200, long)
    assert own.training.ema_sigma_rel == 0.05
    on = with_augmentation(tiny_config(augment="on"), 200, long)  # asked for augmentation alone: the EMA is untouched
    assert on.training.augment == "on" and on.training.ema_sigma_rel == 0.0


def _budget_run(tiny_dataset, root, name, minutes, after_plan=3):
    """A time-budgeted run on the 16-image set, stopped `after_plan` steps after its plan; with the augmentation
    labels each training forward pass received."""
    config = budget_config(augment="auto", augment_p=0.5, max_minutes=minutes)
    trainer = Trainer(config, tiny_dataset, create_run(config, root=root, name=name), device="cpu", clock=TickClock())
    assert trainer.config.training.augment == "auto" and trainer.config.model.augment_dim == AUGMENT_DIM
    seen: list[torch.Tensor | None] = []
    trainer.model.register_forward_pre_hook(
        lambda module, _args, kwargs: seen.append(kwargs.get("augment_labels")) if module.training else None,
        with_kwargs=True)

    def stop(event):
        plan = trainer.budget_plan
        if isinstance(event, StepEvent) and plan is not None and event.step >= plan.planned_at_step + after_plan:
            trainer.request_stop()

    trainer.run(stop)
    return trainer, seen


def test_a_long_time_budget_turns_the_recipe_on_at_its_plan(tiny_dataset, tmp_path):
    # 100 minutes at 2 s a step: 20 s of measurement after 3 unmeasured steps, then ~3,000 steps planned
    trainer, seen = _budget_run(tiny_dataset, tmp_path, "long", minutes=100.0)
    plan = trainer.budget_plan
    assert plan is not None and plan.planned_steps >= AUTO_RECIPE_MIN_STEPS
    assert trainer.config.training.augment == "on"
    assert trainer.learner.ema.gamma == power_ema_gamma(SMALL_SET_EMA_SIGMA_REL)  # the EMA lengthened at the plan
    assert all(labels is None for labels in seen[:plan.planned_at_step])  # plain until the plan ...
    after = seen[plan.planned_at_step:]
    assert len(after) == 3 and all(labels is not None and labels.shape == (4, AUGMENT_DIM) for labels in after)
    recorded = open_run(trainer.run_dir.path).config.training  # ... and recorded with the plan
    assert recorded.augment == "on" and recorded.ema_sigma_rel == SMALL_SET_EMA_SIGMA_REL
    assert recorded.planned_steps == plan.planned_steps
    resumed = Trainer.resume(open_run(trainer.run_dir.path), tiny_dataset, device="cpu", clock=TickClock())
    assert resumed.config.training.augment == "on"
    assert resumed.learner.ema.gamma == power_ema_gamma(SMALL_SET_EMA_SIGMA_REL)


def test_a_short_time_budget_trains_plain_with_the_unused_map(tiny_dataset, tmp_path):
    trainer, seen = _budget_run(tiny_dataset, tmp_path, "short", minutes=1.0)
    assert trainer.budget_plan is not None and trainer.budget_plan.planned_steps < AUTO_RECIPE_MIN_STEPS
    recorded = open_run(trainer.run_dir.path).config
    assert recorded.training.augment == "off" and recorded.training.ema_sigma_rel == 0.0
    assert recorded.model.augment_dim == AUGMENT_DIM and all(labels is None for labels in seen)
    model, _, _ = load_model(trainer.run_dir.path)  # the unused map is in the checkpoint: the run loads as it trained
    assert model.augment_embed is not None


def test_a_budget_run_stopped_before_its_plan_decides_when_it_resumes(tiny_dataset, tmp_path):
    config = budget_config(augment="auto", max_minutes=100.0)
    first = Trainer(config, tiny_dataset, create_run(config, root=tmp_path, name="early"), device="cpu",
                    clock=TickClock())
    first.run(lambda event: first.request_stop() if isinstance(event, StepEvent) and event.step == 2 else None)
    assert first.budget_plan is None and open_run(first.run_dir.path).config.training.augment == "auto"
    resumed = Trainer.resume(open_run(first.run_dir.path), tiny_dataset, device="cpu", clock=TickClock())
    assert resumed.step == 2 and resumed.config.training.augment == "auto"  # still waiting for a plan
    resumed.run(lambda event: resumed.request_stop() if resumed.budget_plan is not None else None)
    assert open_run(first.run_dir.path).config.training.augment == "on"


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
