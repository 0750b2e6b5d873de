"""Training jobs (no Qt): create, start, resume longer, stop; a resumed run's config is rewritten under its lock."""

from __future__ import annotations

import pytest

from ddpm_studio.app.training import TrainingJob, prepare, resumed_config
from ddpm_studio.data import DataConfig
from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.events import FinishedEvent, StepEvent
from ddpm_studio.training.run_lock import RunLock, RunLocked
from ddpm_studio.training.runs import open_run


def _config(steps: int = 2) -> RunConfig:
    return RunConfig(model=UNET_PRESETS["tiny"].replace(base_channels=8, channel_mults=(1, 2), norm_groups=4),
                     diffusion=DiffusionConfig(timesteps=10), data=DataConfig(source="builtin:shapes?n=8",
                                                                               image_size=8),
                     training=TrainingConfig(batch_size=4, max_steps=steps, warmup_steps=1, preview_every_epochs=0,
                                             device="cpu", mixed_precision="no"))


def test_create_start_and_resume_longer(tmp_path):
    stages: list[str] = []
    session = prepare(TrainingJob(config=_config(), runs_dir=tmp_path, name="job"), on_status=stages.append)
    assert session.run.path == tmp_path / "job" and stages[0].startswith("loading")
    events = []
    session.run_training(events.append)
    assert isinstance(events[-1], FinishedEvent) and events[-1].step == 2
    del session  # the Trainer (and its lock on the run) goes with it

    resumed = prepare(TrainingJob(resume="job", runs_dir=tmp_path, max_steps=4))
    assert open_run(tmp_path / "job").config.training.max_steps == 4  # written to config.json
    steps = []
    resumed.run_training(lambda e: steps.append(e.step) if isinstance(e, StepEvent) else None)
    assert steps == [3, 4]


def test_stop_before_the_first_step_finishes_as_stopped(tmp_path):
    session = prepare(TrainingJob(config=_config(steps=50), runs_dir=tmp_path))
    session.request_stop()
    events = []
    session.run_training(events.append)
    assert isinstance(events[-1], FinishedEvent) and events[-1].reason == "stopped"


def test_resume_refuses_a_run_another_process_trains(tmp_path):
    session = prepare(TrainingJob(config=_config(), runs_dir=tmp_path, name="busy"))
    path = session.run.path
    del session
    with RunLock(path):
        with pytest.raises(RunLocked):
            prepare(TrainingJob(resume=path, max_steps=9))
    assert open_run(path).config.training.max_steps == 2  # config.json untouched


def test_resumed_config_keeps_what_the_job_does_not_change():
    config = _config()
    same = resumed_config(config, TrainingJob(resume="x"))
    assert same == config
    longer = resumed_config(config, TrainingJob(resume="x", epochs=3, max_minutes=1.5))
    assert (longer.training.max_steps, longer.training.epochs, longer.training.max_minutes) == (None, 3, 1.5)
