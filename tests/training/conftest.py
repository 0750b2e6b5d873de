"""Shared pieces of the training tests: a tiny run configuration and dataset (8x8, T = 20, a few steps)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.dataset import load_dataset
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.unet_config import UNetConfig
from ddpm_studio.training.config import RunConfig, TrainingConfig

TINY_MODEL = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, linear_attention=False,
                        mid_attention=True, attention_heads=1, attention_head_dim=8, norm_groups=4)


class TickClock:
    """A Trainer's clock that advances one second per reading: a step reads it three times (start, rate, end: 2 s
    of training time), a preview twice (1 s)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def tiny_config(**training) -> RunConfig:
    """A run that takes well under a second per step on one core."""
    base = TrainingConfig(batch_size=4, lr=1e-3, warmup_steps=2, max_steps=6, checkpoint_every_steps=100,
                          keep_last=3, preview_every_epochs=0, preview_count=2, preview_sampler_steps=2,
                          num_threads=1, seed=3)
    return RunConfig(model=TINY_MODEL, diffusion=DiffusionConfig(schedule="linear", timesteps=20),
                     data=DataConfig(source="builtin:shapes?n=16", image_size=8, channels=3, hflip=True),
                     training=replace(base, **training))


def budget_config(**training) -> RunConfig:
    """A tiny run with a time budget (1 minute unless `max_minutes` says otherwise) and no step limit: the budget
    alone sets the length; no previews or live metrics, which would spend the fake clock's seconds."""
    return tiny_config(**{"max_steps": None, "max_minutes": 1.0, "preview_time_share": 0.0, "metrics_time_share": 0.0,
                          "warmup_steps": 2, "checkpoint_every_steps": 1000, **training})


@pytest.fixture(name="tiny_config")
def tiny_config_fixture():
    """The `tiny_config(**training_overrides)` factory."""
    return tiny_config


@pytest.fixture(scope="session")
def tiny_dataset():
    return load_dataset(tiny_config().data)
