"""Issue 23 F20 in the GUI's training task: a locked run and a damaged checkpoint end as their own kinds with
plain messages (not "Training stopped on an unexpected error" with a class-name prefix), and a damaged latest
checkpoint passed over on resume is said."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from ddpm_studio.app.training import TrainingJob
from ddpm_studio.gui.training.task import Notice, TrainingControl, training_task
from ddpm_studio.training.events import FailedEvent
from ddpm_studio.training.run_lock import RunLock
from ddpm_studio.training.runs import create_run
from ddpm_studio.training.trainer import Trainer


@pytest.fixture
def trained_run(tmp_path):
    from ddpm_studio.data.dataset import load_dataset
    from tests.training.conftest import tiny_config

    run = create_run(tiny_config(max_steps=4, checkpoint_every_steps=2), root=tmp_path / "runs", name="r")
    Trainer(run.config, load_dataset(run.config.data), run, device="cpu").run(lambda event: None)
    return run


def _run_worker(qtbot, run, max_steps=6):
    """The GUI's training task, run on this thread: what it reports, as events and notices."""
    events, notices = [], []

    def report(item, *_):
        for one in item if isinstance(item, list) else [item]:
            (notices.append(one.text) if isinstance(one, Notice) else events.append(one))

    training_task(TrainingJob(resume=run.path, max_steps=max_steps), TrainingControl())(lambda: False, report)
    return events, notices


def test_a_locked_run_is_its_own_kind_in_plain_words(qtbot, trained_run):
    with RunLock(trained_run.path):
        events, _ = _run_worker(qtbot, trained_run)
    failed = [e for e in events if isinstance(e, FailedEvent)]
    assert failed and failed[-1].kind == "locked"
    assert failed[-1].message.startswith("run r is being trained by process")


def test_a_damaged_only_checkpoint_is_its_own_kind(qtbot, trained_run):
    for _, path in trained_run.checkpoints():
        path.write_bytes(b"damaged")
    events, _ = _run_worker(qtbot, trained_run)
    failed = [e for e in events if isinstance(e, FailedEvent)]
    assert failed and failed[-1].kind == "checkpoint" and not failed[-1].message.startswith("CheckpointError")


def test_a_damaged_latest_checkpoint_passed_over_is_said(qtbot, trained_run):
    trained_run.checkpoints()[-1][1].write_bytes(b"damaged")
    events, notices = _run_worker(qtbot, trained_run)
    assert any(n.startswith("Resuming from an older checkpoint: step_00000004.safetensors") for n in notices), notices
