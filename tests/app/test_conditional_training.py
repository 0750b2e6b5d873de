"""Conditional training from the data's classes: config.json keeps the class names, label dropout, resume."""

from __future__ import annotations

import json

import torch
from PIL import Image

from ddpm_studio.app.training import TrainingJob, prepare
from ddpm_studio.data import DataConfig
from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.events import FinishedEvent, StepEvent
from ddpm_studio.training.rng import RandomStreams


def _config(source: str, steps: int = 2, labels: str = "auto") -> RunConfig:
    return RunConfig(model=UNET_PRESETS["tiny"].replace(base_channels=8, channel_mults=(1, 2), norm_groups=4),
                     diffusion=DiffusionConfig(timesteps=10),
                     data=DataConfig(source=source, image_size=8, labels=labels),
                     training=TrainingConfig(batch_size=4, max_steps=steps, warmup_steps=1, preview_every_epochs=0,
                                             preview_time_share=0.0, metrics_time_share=0.0, device="cpu",
                                             mixed_precision="no"))


def test_a_class_folder_trains_a_conditional_run_that_resumes(tmp_path):
    for i, name in enumerate(["red/a.png", "red/b.png", "blue/c.png", "blue/d.png"]):
        (tmp_path / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (200, 0, 50 * i) if name.startswith("red") else (0, 0, 200)).save(
            tmp_path / "data" / name)
    session = prepare(TrainingJob(config=_config(str(tmp_path / "data")), runs_dir=tmp_path, name="cond"))
    assert session.trainer.model.num_classes == 2
    events = []
    session.run_training(events.append)
    assert isinstance(events[-1], FinishedEvent) and events[-1].step == 2
    saved = json.loads((tmp_path / "cond" / "config.json").read_text())
    assert saved["data"]["classes"] == ["blue", "red"] and saved["model"]["num_classes"] == 2
    del session
    resumed = prepare(TrainingJob(resume="cond", runs_dir=tmp_path, max_steps=3))
    steps = []
    resumed.run_training(lambda e: steps.append(e.step) if isinstance(e, StepEvent) else None)
    assert steps == [3] and resumed.trainer.model.class_embed.weight.shape == (3, 32)


def test_builtin_shapes_are_conditional_unless_labels_none(tmp_path):
    session = prepare(TrainingJob(config=_config("builtin:shapes?n=8"), runs_dir=tmp_path))
    assert session.run.config.data.classes == ("circle", "square", "triangle")
    plain = prepare(TrainingJob(config=_config("builtin:shapes?n=8", labels="none"), runs_dir=tmp_path))
    assert plain.run.config.model.num_classes == 0 and plain.trainer.model.class_embed is None


def test_label_dropout_rate_and_unlabelled_files_go_to_the_null_class():
    streams = RandomStreams(0)
    labels = torch.tensor([0, 1, -1, 2] * 2500)
    dropped = streams.drop_labels(labels, 0.1, null=3)
    assert (dropped[2::4] == 3).all()
    share = (dropped[labels >= 0] == 3).float().mean().item()
    assert abs(share - 0.1) < 0.015
