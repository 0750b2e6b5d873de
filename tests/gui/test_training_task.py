"""Training as a TaskRunner task: pause / resume / stop through the control handle, the Trainer's events as
snapshots in order (gui/training/task.py), and the panel following the session's phases. A stand-in Trainer
with the real one's control surface keeps these fast and exact; tests/gui/test_training_panel.py drives the
real Trainer through the panel."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings

from ddpm_studio.app.training import TrainingJob
from ddpm_studio.gui.jobs.task_worker import TaskRunner
from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.training import task as training_worker
from ddpm_studio.gui.training.panel import TrainingPanel
from ddpm_studio.gui.training.state import Phase
from ddpm_studio.gui.training.task import RunReady, Stage, TrainingControl, training_task
from ddpm_studio.training.events import FinishedEvent, StepEvent

WAIT_MS = 30_000  # bounds on waits for the worker thread: never a timing assertion


class StandInTrainer:
    """Steps until stopped; request_pause / request_resume / request_stop / is_paused as training.Trainer's."""

    def __init__(self) -> None:
        self._running, self._stop, self._blocked = threading.Event(), threading.Event(), threading.Event()
        self._running.set()
        self.step = 0
        self.calls: list[str] = []

    def request_pause(self) -> None:
        self.calls.append("pause")
        if not self._stop.is_set():
            self._running.clear()

    def request_resume(self) -> None:
        self.calls.append("resume")
        self._running.set()

    def request_stop(self) -> None:
        self.calls.append("stop")
        self._stop.set()
        self._running.set()

    @property
    def is_paused(self) -> bool:
        return self._blocked.is_set()

    def run(self, emit) -> None:
        while True:
            if not self._running.is_set():
                self._blocked.set()
                self._running.wait()
                self._blocked.clear()
            if self._stop.is_set():
                emit(FinishedEvent(step=self.step, reason="stopped"))
                return
            self.step += 1
            emit(StepEvent(step=self.step, epoch=1, loss=1.0 / self.step, lr=1e-3, images_per_s=1.0,
                           elapsed_s=0.0, total_steps=None))
            threading.Event().wait(0.001)  # a step takes time: the pause lands between steps


class StandInSession:
    def __init__(self, trainer: StandInTrainer, path: Path) -> None:
        self.trainer, self.problems, self.skipped_checkpoints = trainer, [], ()
        self.validation_warning = None  # app.training's session says why no validation split was held out
        self.run = type("Run", (), {"path": path})()

    def run_training(self, on_event) -> None:
        self.trainer.run(on_event)


@pytest.fixture
def trainer(monkeypatch, tmp_path):
    trainer = StandInTrainer()
    session = StandInSession(trainer, tmp_path / "run")

    def prepare(job, cancel, on_status):
        on_status("loading data")
        if job.name == "wait-for-stop":  # a stop that comes while the data loads
            while not cancel():
                threading.Event().wait(0.005)
        return session

    monkeypatch.setattr(training_worker, "prepare", prepare)
    return trainer


@pytest.fixture
def runner(qtbot):
    runner = TaskRunner("training")
    runner.snapshots = []
    runner.progress.connect(runner.snapshots.append)
    yield runner
    assert runner.shutdown(10.0)


def steps_of(snapshots) -> list[int]:
    return [event.step for batch in snapshots if isinstance(batch, list) for event in batch]


def test_pause_and_resume_go_through_the_control_handle(qtbot, trainer, runner, tmp_path):
    control = TrainingControl()
    runner.start(training_task(TrainingJob(), control), threads=0, on_cancel=control.stop)
    qtbot.waitUntil(lambda: any(isinstance(s, RunReady) for s in runner.snapshots), timeout=WAIT_MS)
    assert runner.snapshots[:2] == [Stage("loading data"), RunReady(tmp_path / "run")]

    control.pause()
    qtbot.waitUntil(control.is_paused, timeout=WAIT_MS)  # blocked between two steps
    held = trainer.step
    control.resume()
    qtbot.waitUntil(lambda: trainer.step > held + 2, timeout=WAIT_MS)
    assert not control.is_paused()

    with qtbot.waitSignal(runner.finished, timeout=WAIT_MS):
        runner.cancel()  # a stop through the runner reaches the Trainer through the handle
    assert trainer.calls == ["pause", "resume", "stop"]
    last = runner.snapshots[-1]
    assert isinstance(last, FinishedEvent) and last.reason == "stopped"
    assert steps_of(runner.snapshots) == list(range(1, last.step + 1))  # every step, in order, before the end


def test_a_stop_during_preparation_reaches_the_trainer_when_it_exists(qtbot, trainer, runner):
    control = TrainingControl()
    runner.start(training_task(TrainingJob(name="wait-for-stop"), control), threads=0, on_cancel=control.stop)
    qtbot.waitUntil(lambda: Stage("loading data") in runner.snapshots, timeout=WAIT_MS)
    with qtbot.waitSignal(runner.finished, timeout=WAIT_MS):
        runner.cancel()
    assert trainer.calls == ["stop"] and trainer.step == 0
    assert runner.snapshots[-1] == FinishedEvent(step=0, reason="stopped")


def test_the_handle_keeps_a_request_until_the_trainer_is_attached():
    paused, stopped = TrainingControl(), TrainingControl()
    paused.pause()
    stopped.pause()
    stopped.stop()
    first, second = StandInTrainer(), StandInTrainer()
    paused.attach(first)
    stopped.attach(second)
    assert first.calls == ["pause"] and second.calls == ["stop"]  # a stop outranks a pause
    paused.resume()
    assert first.calls == ["pause", "resume"] and not paused.is_paused()


def test_the_panels_buttons_follow_the_session_and_its_end_is_shown_once(qtbot, trainer, tmp_path):
    panel = TrainingPanel(AppState(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), device="cpu"))
    qtbot.addWidget(panel)
    ended, phases = [], []
    panel.training_ended.connect(ended.append)
    panel.session.observe(phases.append)
    panel.form.source.setText("builtin:shapes?n=16&size=16")

    def buttons() -> tuple[bool, bool, bool]:
        return panel.start_button.isEnabled(), panel.pause_button.isEnabled(), panel.stop_button.isEnabled()

    panel.start()
    assert panel.session.phase is Phase.PREPARING and buttons() == (False, False, True)  # no Trainer to pause yet
    qtbot.waitUntil(lambda: panel.step_count() > 0, timeout=WAIT_MS)
    assert panel.session.phase is Phase.TRAINING and buttons() == (False, True, True)
    panel.pause_button.click()
    assert panel.pause_button.text() == "Resume" and panel.stats.text("status") == "paused"
    qtbot.waitUntil(panel.trainer_paused, timeout=WAIT_MS)
    panel.pause_button.click()
    assert panel.pause_button.text() == "Pause" and panel.session.phase is Phase.TRAINING
    with qtbot.waitSignal(panel.training_ended, timeout=WAIT_MS):
        panel.stop_button.click()
        assert panel.session.phase is Phase.STOPPING and buttons() == (False, False, False)
    assert phases == [Phase.PREPARING, Phase.TRAINING, Phase.PAUSED, Phase.TRAINING, Phase.STOPPING, Phase.ENDED]
    assert ended == ["stopped"] and buttons()[0] and not panel.is_busy()
    assert panel.last_finish.step == panel.step_count() == trainer.step and panel.stats.text("eta") == "—"
    panel.shutdown(1.0)
    assert ended == ["stopped"] and panel.session.phase is Phase.ENDED  # nothing left to end
