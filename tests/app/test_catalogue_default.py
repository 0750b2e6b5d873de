"""The sampler's default model (issue 13 item 25): the demo until a run has trained more steps than it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ddpm_studio.app.catalogue import default_choice, model_choices, model_info, model_name
from ddpm_studio.data import DataConfig
from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
from ddpm_studio.training.checkpoint import checkpoint_name
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.runs import CLASS_DEMO_CHECKPOINT, DEMO_CHECKPOINT, create_run

DEMO_STEPS = model_info(DEMO_CHECKPOINT).step
CLASS_DEMO_STEPS = model_info(CLASS_DEMO_CHECKPOINT).step


def make_run(root: Path, name: str, step: int) -> Path:
    """A run folder whose checkpoints folder names a checkpoint of `step` steps (the catalogue reads names)."""
    config = RunConfig(model=UNET_PRESETS["tiny"], diffusion=DiffusionConfig(timesteps=40),
                       data=DataConfig(source="builtin:shapes", image_size=16), training=TrainingConfig())
    run = create_run(config, root=root, name=name)
    run.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    (run.checkpoints_dir / checkpoint_name(step)).write_bytes(b"")
    return run.path


def test_the_demo_model_knows_its_steps_and_T():
    info = model_info(DEMO_CHECKPOINT)
    assert info is not None and info.step > 0 and info.timesteps == 1000
    assert model_name(DEMO_CHECKPOINT) == f"demo model (step {info.step})"


def test_a_short_recent_run_does_not_displace_the_demo(tmp_path):
    make_run(tmp_path, "throwaway", 6)
    choices = model_choices(runs_dir=tmp_path)
    assert [c.step for c in choices] == [6, DEMO_STEPS, CLASS_DEMO_STEPS]
    best = default_choice(choices)
    assert best.is_demo and best.path == DEMO_CHECKPOINT
    # nor does it as the current run
    current = make_run(tmp_path, "current", 10)
    assert default_choice(model_choices(current, runs_dir=tmp_path)).is_demo


def test_a_run_trained_longer_than_the_demo_becomes_the_default(tmp_path):
    long_run = make_run(tmp_path, "long", DEMO_STEPS + 1)  # the class demo, though longer, is never the default
    time.sleep(0.01)
    make_run(tmp_path, "newer-but-short", 50)
    choice = default_choice(model_choices(runs_dir=tmp_path))
    assert choice.path == long_run and not choice.is_demo
    assert model_info(long_run).step == DEMO_STEPS + 1 and model_info(long_run).timesteps == 40
    # two runs beat the demo: the one with more steps
    longer = make_run(tmp_path, "longer", DEMO_STEPS + 500)
    os.utime(longer, (0, 0))
    assert default_choice(model_choices(runs_dir=tmp_path)).path == longer


def test_no_models_means_no_default():
    assert default_choice([]) is None
