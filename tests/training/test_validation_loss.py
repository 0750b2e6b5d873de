"""The validation loss (issue 24 item 2): a held-out split that is never trained on, the same across a resume,
scored with the per-image losses' fixed-noise protocol at the cadence; too small a set trains without one and
says so; an older run's config.json (no such fields) loads and resumes on every image as before."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.dataset import load_dataset
from ddpm_studio.training.checkpoint import load_model
from ddpm_studio.training.config import TrainingConfig, with_augmentation
from ddpm_studio.training.events import FinishedEvent, ValidationEvent
from ddpm_studio.training.fixed_noise_loss import fixed_timesteps
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer
from ddpm_studio.training.validation import (
    VALIDATION_FILE,
    read_validation,
    split_for,
    too_few_message,
    validation_count,
)

torch.set_num_threads(1)

DATA = DataConfig(source="builtin:shapes?n=120", image_size=8, channels=3, hflip=True)


@pytest.fixture(scope="module")
def dataset120():
    return load_dataset(DATA)


def _config(tiny_config, **training):
    return replace(tiny_config(**{"batch_size": 8, **training}), data=DATA)


def _validation_steps(run_path) -> list[int]:
    return [json.loads(line)["step"] for line in (run_path / VALIDATION_FILE).read_text().splitlines()]


@pytest.mark.parametrize(("images", "held"), [(16, 0), (95, 0), (96, 32), (1000, 32), (2000, 60), (10_000, 300)])
def test_a_few_percent_are_held_out_with_a_minimum_and_none_from_a_small_set(images, held):
    assert validation_count(images) == held


def test_the_split_follows_the_seed_and_the_names_not_the_listing_order():
    keys = [f"img{i:03d}.png" for i in range(200)]
    split = split_for(keys, 32, seed=3)
    assert len(split.held_out) == 32 and set(split.held_out).isdisjoint(split.training)
    assert sorted(split.held_out + split.training) == list(range(200))
    shuffled = list(reversed(keys))
    again = split_for(shuffled, 32, seed=3)
    assert {shuffled[i] for i in again.held_out} == {keys[i] for i in split.held_out}
    assert split_for(keys, 32, seed=4).held_out != split.held_out
    with pytest.raises(ValueError, match="at least one must be left to train on"):
        split_for(keys[:5], 5, seed=0)


def test_a_new_run_never_trains_on_its_held_out_images_and_scores_them_at_the_cadence(tiny_config, dataset120,
                                                                                      tmp_path, monkeypatch):
    config = _config(tiny_config, max_steps=12, validation_every_steps=4)
    run = create_run(config, root=tmp_path, name="v")
    trainer = Trainer(config, dataset120, run, device="cpu")
    assert trainer.config.training.validation_images == 32
    assert json.loads((run.path / "config.json").read_text())["training"]["validation_images"] == 32
    assert trainer.validation_note == ("validation: 32 of 120 images held out (never trained on), scored at fixed "
                                       "noise and 8 fixed timesteps")
    read = []
    original = dataset120.batch
    monkeypatch.setattr(dataset120, "batch", lambda indices, generator=None: (
        read.extend(int(i) for i in indices), original(indices, generator=generator))[1])
    events = []
    trainer.run(events.append)
    assert events[-1] == FinishedEvent(step=12, reason="completed")
    assert len(set(read)) == 88 and set(read).isdisjoint(trainer.split.held_out)  # a whole epoch, none held out
    points = [e for e in events if isinstance(e, ValidationEvent)]
    assert [p.step for p in points] == [4, 8, 12] == _validation_steps(run.path)
    assert all(math.isfinite(p.loss) and p.images == 32 for p in points)
    assert points[0].timesteps == fixed_timesteps(20, 8)
    assert points[0].caption == "validation (32 held-out images, fixed noise, 8 timesteps)"
    stored = read_validation(run.path)  # what a reopened run's plot shows
    assert [(p.step, p.loss, p.images, p.timesteps) for p in stored] == [(p.step, p.loss, p.images, p.timesteps)
                                                                         for p in points]


def test_a_resume_holds_out_the_same_images_and_continues_the_curve(tiny_config, dataset120, tmp_path):
    config = _config(tiny_config, max_steps=6, validation_every_steps=2, checkpoint_every_steps=4)
    run = create_run(config, root=tmp_path, name="r")
    first = Trainer(config, dataset120, run, device="cpu")
    first.run(lambda _e: None)
    assert _validation_steps(run.path) == [2, 4, 6]
    for path in run.checkpoints_dir.glob("step_00000006*"):  # the resume starts at step 4: point 6 is redone
        path.unlink()
    reopened = open_run(run.path)
    reopened.save_config(replace(reopened.config, training=replace(reopened.config.training, max_steps=8)))
    resumed = Trainer.resume(reopened, dataset120, device="cpu")
    assert resumed.step == 4 and resumed.split == first.split
    events = []
    resumed.run(events.append)
    assert [e.step for e in events if isinstance(e, ValidationEvent)] == [6, 8]
    assert _validation_steps(run.path) == [2, 4, 6, 8]


def test_a_set_too_small_to_hold_anything_out_trains_on_all_of_it_and_says_so(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(max_steps=2, validation_every_steps=1)
    run = create_run(config, root=tmp_path, name="small")
    trainer = Trainer(config, tiny_dataset, run, device="cpu")
    assert trainer.split is None and trainer.train_set is tiny_dataset
    assert trainer.validation_note == too_few_message(16)
    assert trainer.validation_note.startswith("16 images are too few to hold out a validation split")
    assert open_run(run.path).config == with_augmentation(config, 16, 2)  # no split recorded: it trains on all
    events = []
    trainer.run(events.append)
    assert not any(isinstance(e, ValidationEvent) for e in events)
    assert not (run.path / VALIDATION_FILE).exists()
    resumed = Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")
    assert resumed.validation_note == too_few_message(16) and resumed.split is None  # said at each start
    resumed.release_lock()


def test_an_older_config_without_the_fields_loads_and_resumes_on_every_image(tiny_config, dataset120, tmp_path):
    config = _config(tiny_config, max_steps=2, validation_images=0, checkpoint_every_steps=2)
    run = create_run(config, root=tmp_path, name="old")
    Trainer(config, dataset120, run, device="cpu").run(lambda _e: None)
    old = json.loads((run.path / "config.json").read_text())
    for key in ("validation_images", "validation_every_steps", "validation_time_share"):
        del old["training"][key]
    old["training"]["max_steps"] = 4
    (run.path / "config.json").write_text(json.dumps(old, indent=2))
    reopened = open_run(run.path)
    assert reopened.config.training.validation_images == 0
    assert reopened.config.training.validation_time_share == 0.0
    resumed = Trainer.resume(reopened, dataset120, device="cpu")
    assert resumed.split is None and resumed.train_set is dataset120 and resumed.steps_per_epoch == 120 // 8
    events = []
    resumed.run(events.append)
    assert events[-1] == FinishedEvent(step=4, reason="completed")
    assert not any(isinstance(e, ValidationEvent) for e in events) and not (run.path / VALIDATION_FILE).exists()


def test_the_validation_loss_is_the_per_image_losses_of_the_held_out_images(tiny_config, dataset120, tmp_path):
    from ddpm_studio.app.per_image_losses import per_image_report

    config = _config(tiny_config, max_steps=2)
    run = create_run(config, root=tmp_path, name="same")
    trainer = Trainer(config, dataset120, run, device="cpu")
    trainer.run(lambda _e: None)
    model, diffusion, _ = load_model(run.latest_checkpoint(), device="cpu", ema=True)
    validation = trainer.validation.loss(model, diffusion)
    rows = per_image_report(run.path).losses.rows
    held = [rows[i].mean for i in trainer.split.held_out]
    assert validation == pytest.approx(sum(held) / len(held), rel=1e-5)


def test_bad_validation_settings_are_refused_in_one_line(tiny_config, dataset120, tmp_path):
    with pytest.raises(ValueError, match="validation_images must be an integer >= 0"):
        TrainingConfig(validation_images=-1).validate()
    with pytest.raises(ValueError, match="validation_time_share must be"):
        TrainingConfig(validation_time_share=0.9).validate()
    config = _config(tiny_config, validation_images=120)
    with pytest.raises(ValueError, match="validation_images is 120, but the data has 120 images"):
        Trainer(config, dataset120, create_run(config, root=tmp_path, name="bad"), device="cpu")


def test_the_time_share_cadence_keeps_the_scoring_within_its_share(tiny_config):
    from ddpm_studio.training.validation import ValidationCadence

    cadence = ValidationCadence(tiny_config(validation_time_share=0.05).training)
    assert not cadence.due(1, 1.0, None, 4, 256)  # no step time yet
    first = cadence.estimate_cost(0.12, 4, 256)  # 256 forward passes of one image, a third of a step's work each
    assert first == pytest.approx(256 * 0.04 / 4)
    assert not cadence.due(1, 0.9 * first * 19, 0.12, 4, 256) and cadence.due(1, first * 19, 0.12, 4, 256)
    cadence.record(2.0, 100.0)  # a measured cost of 2 s: the next one after 2 * 19 = 38 s more
    assert not cadence.due(5, 137.0, 0.12, 4, 256) and cadence.due(5, 138.0, 0.12, 4, 256)
    assert ValidationCadence(tiny_config(validation_every_steps=3).training).due(6, 0.0, None, 4, 256)


def test_the_per_image_losses_mark_the_run_s_held_out_images(tiny_config, dataset120, tmp_path):
    from ddpm_studio.app.per_image_losses import losses_csv, per_image_report
    from ddpm_studio.cli.losses import format_losses

    config = _config(tiny_config, max_steps=2, validation_every_steps=2, checkpoint_every_steps=2)
    run = create_run(config, root=tmp_path, name="p")
    trainer = Trainer(config, dataset120, run, device="cpu")
    trainer.run(lambda _e: None)
    losses = per_image_report(run.path).losses
    assert len(losses.rows) == 120 and losses.held_out_count == 32
    assert {r.index for r in losses.rows if r.held_out} == set(trainer.split.held_out)  # the Trainer's own split
    assert losses.split_summary().startswith("32 images held out for the validation loss (never trained on): "
                                             "median loss ")
    assert losses.split_summary().endswith("for the 88 trained on")
    table = losses_csv(losses).splitlines()
    assert table[0].split(",")[5] == "held_out"
    assert sum(line.split(",")[5] == "1" for line in table[1:]) == 32
    text = format_losses(losses, top=120)
    assert text.count("  (held out)") == 32 and "; marked (held out) below" in text.splitlines()[1]


def test_a_run_that_held_nothing_out_marks_nothing(tiny_config, dataset120, tmp_path):
    from ddpm_studio.training.validation import recorded_split

    assert recorded_split(TrainingConfig(validation_images=None), ["a", "b"]) is None  # too small a set
    assert recorded_split(TrainingConfig(validation_images=0), ["a", "b"]) is None  # a run from before
    assert recorded_split(TrainingConfig(validation_images=2), ["a", "b"]) is None  # the data shrank to the split
    split = recorded_split(TrainingConfig(validation_images=1, seed=5), ["a", "b", "c"])
    assert split == split_for(["a", "b", "c"], 1, seed=5)
