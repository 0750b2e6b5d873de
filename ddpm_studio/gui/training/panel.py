"""The training panel: a config form, Start/Pause/Resume/Stop, live loss curves and the preview filmstrip.

Training is a `TaskRunner` task (`training_worker`, paused and resumed through its `TrainingControl`); this
view only receives its snapshots and paints them, and its buttons follow the session's `TrainingState`.
A run on disk can be reopened (its configuration, history, previews: `open_run`, the one way every "open a
run" action of the window goes) and resumed. `shutdown()` stops the task (the Trainer writes a checkpoint).

The form scrolls; the run controls (Start/Pause/Stop, with Qt's standard media icons, and the reason Start
is disabled) sit below it outside the scroll area, so they are visible at every window size. The form's
values are remembered between launches in the application's QSettings (`FORM_SETTINGS_KEY`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.training import RUN_COMPLETE, TrainingJob, run_complete_message
from ddpm_studio.data.config import DataConfig
from ddpm_studio.gui.jobs.task_worker import TaskRunner
from ddpm_studio.gui.training.filmstrip import Filmstrip
from ddpm_studio.gui.training.form import TrainingForm
from ddpm_studio.gui.training.loss_plot import NOT_STORED_MESSAGE, UNREADABLE_MESSAGE, LossPlot, TimestepLossPlot
from ddpm_studio.gui.training.metric_plot import MetricPlot
from ddpm_studio.gui.training.per_image_losses import PerImageLossesDialog
from ddpm_studio.gui.training.scalar_plot import ScalarPlot
from ddpm_studio.gui.training.state import Phase, TrainingState
from ddpm_studio.gui.training.stats import TrainingStats, overhead_notice
from ddpm_studio.gui.training.task import Notice, RunReady, Stage, TrainingControl, training_task
from ddpm_studio.training import events as ev
from ddpm_studio.training.config import RunConfig

if TYPE_CHECKING:
    from ddpm_studio.gui.state import AppState
    from ddpm_studio.training.runs import Run

log = logging.getLogger(__name__)
FORM_SETTINGS_KEY = "training/form"  # the form's RunConfig as JSON, restored at the next launch

PREVIEW_SHARE_WARNING = 0.25  # warn when work outside the steps takes more than this share of the training time

FAILURE_HINTS = {
    "nan": "The loss became NaN or infinite: lower the learning rate, or try the L1/Huber loss. "
           "The last good checkpoint is kept.",
    "oom": "Out of memory: lower the batch size, the image size or the model width.",
    "data": "The data could not be used: check the source in the Dataset tab.",
    "error": "Training stopped on an unexpected error (details in the log).",
}

PHASE_STATUS = {Phase.PREPARING: "starting …", Phase.TRAINING: "training", Phase.PAUSED: "paused",
                Phase.STOPPING: "stopping (writing a checkpoint) …"}  # the end's status comes from its event


class TrainingPanel(QWidget):
    """Train a model on the chosen data source and watch it learn."""

    training_ended = Signal(str)  # "completed" | "stopped" | "failed"

    def __init__(self, state: "AppState", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._runner = TaskRunner("training", self)
        self._control: TrainingControl | None = None  # the running task's pause/resume/stop handle
        self.session = TrainingState()
        self._reopened: Path | None = None  # a run from disk, shown and resumable
        self._last_step: ev.StepEvent | None = None
        self._preview_warned = False
        self.last_failure: ev.FailedEvent | None = None
        self.last_finish: ev.FinishedEvent | None = None
        self.checkpoint_path: Path | None = None
        self._build()
        self._restore_form()
        self._connect()
        if getattr(state, "source_spec", ""):
            self.form.set_source(state.source_spec)
        self.refresh_runs()
        self._update_buttons()

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.form = TrainingForm()
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #b00020;")
        icon = self.style().standardIcon
        self._play_icon = icon(QStyle.StandardPixmap.SP_MediaPlay)
        self._pause_icon = icon(QStyle.StandardPixmap.SP_MediaPause)
        self.start_button = QPushButton(self._play_icon, "Start")
        self.pause_button = QPushButton(self._pause_icon, "Pause")
        self.stop_button = QPushButton(icon(QStyle.StandardPixmap.SP_MediaStop), "Stop")
        self.start_button.setDefault(True)
        self.runs_combo = QComboBox()
        self.runs_combo.setMinimumContentsLength(18)
        self.open_button = QPushButton("Open")
        self.browse_button = QPushButton("Browse…")
        self.resume_button = QPushButton("Resume run")
        self.resume_button.setToolTip("Continue the opened run from its latest checkpoint "
                                      "(until the 'train for' number of steps in all).")
        self.losses_button = QPushButton("Per-image losses…")  # issue 24 item 3
        self.losses_button.setToolTip("Every training image's loss at fixed noise and timesteps, highest first "
                                      "(broken, mislabelled and duplicated images), for the opened run.")
        self.losses_window: PerImageLossesDialog | None = None
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        runs = QGridLayout()
        runs.addWidget(QLabel("<b>Runs on disk</b>"), 0, 0, 1, 3)
        runs.addWidget(self.runs_combo, 1, 0, 1, 3)
        runs.addWidget(self.open_button, 2, 0)
        runs.addWidget(self.browse_button, 2, 1)
        runs.addWidget(self.resume_button, 2, 2)
        runs.addWidget(self.losses_button, 3, 0, 1, 3)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.form)
        left_layout.addLayout(runs)
        left_layout.addStretch(1)
        self.form_scroll = scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        bar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(left.sizeHint().width() + bar + 4)
        self.run_bar = QWidget()  # outside the scroll area: always visible
        run_bar_layout = QVBoxLayout(self.run_bar)
        run_bar_layout.setContentsMargins(0, 0, 0, 0)
        run_bar_layout.addWidget(self.problem_label)
        run_bar_layout.addLayout(buttons)
        column = QVBoxLayout()
        column.addWidget(scroll, 1)
        column.addWidget(self.run_bar)

        self.stats = TrainingStats()
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setFrameShape(QFrame.Shape.StyledPanel)
        self.error_label.setStyleSheet("background: #fde7e9; color: #8a0015; padding: 6px;")
        self.error_label.hide()
        self.notice_label = QLabel()
        self.notice_label.setWordWrap(True)
        self.notice_label.setStyleSheet("color: #7a5b00;")
        self.notice_label.hide()

        self.loss_plot = LossPlot()
        self.bucket_plot = TimestepLossPlot()
        self.filmstrip = Filmstrip()
        self.scalar_plot = ScalarPlot()  # learning rate, gradient norm, loss vs step / images / time (issue 21)
        self.lower_tabs = QTabWidget()
        self.lower_tabs.addTab(self.bucket_plot, "By timestep")
        self.lower_tabs.addTab(self.scalar_plot, "LR && grad norm")
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.lower_tabs)
        lower.addWidget(self.filmstrip)
        lower.setSizes([300, 500])
        plots = QSplitter(Qt.Orientation.Vertical)
        self.metric_plot = MetricPlot()  # sample quality beside the loss (issue 11)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.loss_plot)
        top.addWidget(self.metric_plot)
        top.setSizes([500, 300])
        plots.addWidget(top)
        plots.addWidget(lower)
        plots.setSizes([380, 360])  # the quality curve's protocol caption needs room under it
        right = QVBoxLayout()
        right.addWidget(self.stats)
        right.addWidget(self.error_label)
        right.addWidget(self.notice_label)
        right.addWidget(plots, 1)
        layout = QHBoxLayout(self)
        layout.addLayout(column)
        layout.addLayout(right, 1)

    def _connect(self) -> None:
        self.form.changed.connect(self._update_buttons)
        self.form.changed.connect(self._remember_form)
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self._toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.open_button.clicked.connect(self._open_selected)
        self.browse_button.clicked.connect(self._browse_run)
        self.resume_button.clicked.connect(self.resume_run)
        self.losses_button.clicked.connect(self.show_per_image_losses)
        self._runner.progress.connect(self._on_snapshot)
        self._runner.finished.connect(self._on_finished)
        self.session.observe(self._on_phase)
        self._state.source_changed.connect(lambda _src: self.form.set_source(self._state.source_spec))
        self._state.data_profile_changed.connect(self.form.apply_data_profile)  # defaults follow the data

    # -- public ---------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        """True from Start until the run's end has been shown (preparing, training, paused or stopping)."""
        return self.session.is_busy()

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop any training (the Trainer writes a checkpoint) and join; the runner drops what the joined run
        still had queued, so its end is handled here."""
        if self.losses_window is not None:
            self.losses_window.shutdown(timeout_s)
        if self._runner.shutdown(timeout_s) and self.session.is_busy():
            self._on_finished()

    def trainer_paused(self) -> bool:
        """True once the Trainer is actually blocked in the pause (no step is in flight)."""
        return self._control is not None and self._control.is_paused()

    def step_count(self) -> int:
        """The last step reported by the running (or last) training."""
        return self._last_step.step if self._last_step else 0

    @Slot()
    def start(self) -> None:
        """Start a new run with the form's configuration (no-op with a message when invalid)."""
        problem = self.form.problem()
        if problem or self.is_busy():
            self._update_buttons()
            return
        self._reopened = None
        self._begin(TrainingJob(config=self.form.run_config(), tensorboard=self.form.tensorboard_dir()), clear=True)

    @Slot()
    def resume_run(self) -> None:
        """Continue the opened run from its latest checkpoint."""
        if self._reopened is None or self.is_busy():
            return
        max_steps, epochs, max_minutes = self.form.length_choice()
        job = TrainingJob(resume=self._reopened, max_steps=max_steps, epochs=epochs, max_minutes=max_minutes,
                          tensorboard=self.form.tensorboard_dir())
        self._begin(job, clear=False)

    @Slot()
    def pause(self) -> None:
        if self.session.phase is Phase.TRAINING:
            self._control.pause()
            self.session.move(Phase.PAUSED)

    @Slot()
    def resume(self) -> None:
        if self.session.phase is Phase.PAUSED:
            self.stats.reset_rate()  # the pause must not count against the speed
            self._control.resume()
            self.session.move(Phase.TRAINING)

    @Slot()
    def stop(self) -> None:
        if self.session.can(Phase.STOPPING):
            self._runner.cancel()  # stops the data load, and the Trainer through the control handle
            self.session.move(Phase.STOPPING)

    def open_run(self, path: str | Path) -> bool:
        """Show a run from disk: its configuration, loss history and previews, and make it resumable.

        The one "open a run" of the application (Runs on disk → Open, Browse…, File → Open Run…, File →
        Recent Runs). False, with the reason in the error banner, when the run is unusable or training runs.
        """
        from ddpm_studio.training.runs import open_run
        from ddpm_studio.training.validation import read_validation

        if self.is_busy():
            self._show_error("A run is training: stop it before opening another run.")
            return False
        try:
            run = open_run(Path(path))
        except Exception as exc:  # noqa: BLE001 - RunError / OSError: shown, not raised
            self._show_error(f"Cannot open the run: {exc}")
            return False
        self._hide_error()
        self.notice_label.hide()
        self.stats.clear_run()
        self.form.set_run_config(run.config)
        history = [r for r in run.history() if "step" in r and "loss" in r]
        self.loss_plot.set_history([float(r["step"]) for r in history], [float(r["loss"]) for r in history])
        validation = read_validation(run.path)
        self.loss_plot.set_validation([(p.step, p.loss) for p in validation],
                                      validation[-1].caption if validation else None)
        self.scalar_plot.set_batch_size(run.config.training.batch_size)
        self.scalar_plot.set_history(history)
        self._show_timestep_loss(run)
        self.metric_plot.load_run(run.path)
        problems = self.filmstrip.load_files(run.previews())
        if problems:
            self._show_notice("Some previews could not be read: " + "; ".join(problems[:3]))
        self._reopened = run.path
        self.checkpoint_path = run.latest_checkpoint()
        self.stats.set("run", str(run.path))
        self.stats.set("checkpoint", str(self.checkpoint_path) if self.checkpoint_path else "none yet")
        self.stats.show_record(history[-1] if history else {})
        self.stats.set("status", "opened from disk")
        self._state.set_run(run.path)
        index = self.runs_combo.findData(str(run.path))
        if index >= 0:
            self.runs_combo.setCurrentIndex(index)
        self._update_buttons()
        return True

    @Slot()
    def show_per_image_losses(self) -> None:
        """Open the per-image losses of the opened run in their own window and compute them."""
        if self._reopened is None:
            return
        if self.losses_window is not None:
            self.losses_window.close()
        self.losses_window = PerImageLossesDialog(self._reopened, self._state.settings, self)
        self.losses_window.show()
        self.losses_window.start()

    def refresh_runs(self) -> None:
        """Fill the runs list from disk (newest first)."""
        from ddpm_studio.training.runs import scan_runs

        self.runs_combo.clear()
        listing = scan_runs()
        if listing.skipped:  # a damaged run folder is named, never fatal (issue 23 F1)
            self._show_notice(f"Skipped {len(listing.skipped)} unusable run folder(s): "
                              + "; ".join(listing.skipped[:3]))
        for info in listing.runs:
            loss = f", loss {info.last_loss:.3g}" if info.last_loss is not None else ""
            self.runs_combo.addItem(f"{info.name} (step {info.step}{loss})", str(info.path))
        self._update_buttons()

    # -- slots ----------------------------------------------------------------------------------
    def _begin(self, job: TrainingJob, *, clear: bool) -> None:
        self._hide_error()
        self.notice_label.hide()
        self._preview_warned = False
        config = job.config if job.config is not None else self.form.run_config()
        self.stats.set_batch_size(config.training.batch_size)
        self.scalar_plot.set_batch_size(config.training.batch_size)
        if clear:  # nothing of an earlier run applies to a new one (a failed start must not show it)
            self.checkpoint_path = None
            self.stats.clear_run()
            self.loss_plot.clear()
            self.metric_plot.clear()
            self.scalar_plot.clear()
            self.bucket_plot.clear()
            self.filmstrip.clear()
        self._last_step = None
        self.stats.reset_rate()
        self.last_failure = self.last_finish = None
        self._control = TrainingControl()
        self.session.move(Phase.PREPARING)
        self._runner.start(training_task(job, self._control), on_cancel=self._control.stop)

    def _toggle_pause(self) -> None:
        self.resume() if self.session.phase is Phase.PAUSED else self.pause()

    def _on_phase(self, phase: Phase) -> None:
        if phase in PHASE_STATUS:
            self.stats.set("status", PHASE_STATUS[phase])
        self._update_buttons()

    def _on_steps(self, batch: list[ev.StepEvent]) -> None:
        for event in batch:
            self.loss_plot.append(event.step, event.loss)
            self.scalar_plot.append(event)
        last = batch[-1]
        self._last_step = last
        self.stats.show_step(last)
        self._warn_if_previews_dominate()

    def _warn_if_previews_dominate(self) -> None:
        """A notice (once per run) when previews, metrics and checkpoints take more than PREVIEW_SHARE_WARNING
        of the training time, in the Trainer's own figures (stats.overhead_notice)."""
        if self._preview_warned:
            return
        text = overhead_notice(self.stats.overhead_shares(), PREVIEW_SHARE_WARNING)
        if text is None:
            return
        self._preview_warned = True
        self._show_notice(text)

    @Slot(object)
    def _on_snapshot(self, event) -> None:
        """One snapshot of the current run's task (training_worker's module docstring lists them)."""
        if isinstance(event, list):
            self._on_steps(event)
        elif isinstance(event, Stage):
            if self.session.phase is Phase.PREPARING:  # a stop's "stopping …" stays
                self.stats.set("status", event.text)
        elif isinstance(event, Notice):
            self._show_notice(event.text)
        elif isinstance(event, RunReady):
            self.stats.set("run", str(event.path))
            self._reopened = event.path
            self._state.set_run(event.path)
            if self.session.phase is Phase.PREPARING:  # a stop during preparation keeps the session stopping
                self.session.move(Phase.TRAINING)
        elif isinstance(event, ev.TimestepLossEvent):
            self.bucket_plot.set_buckets(event.bucket_edges, event.bucket_losses)
        elif isinstance(event, ev.PreviewEvent):
            self.filmstrip.add_preview(event.epoch, event.preview, step=event.step)
        elif isinstance(event, ev.MetricsEvent):
            self.metric_plot.add_point(event)
        elif isinstance(event, ev.ValidationEvent):
            self.loss_plot.add_validation(event.step, event.loss, event.caption)
        elif isinstance(event, ev.CheckpointEvent):
            self.checkpoint_path = Path(event.path)
            self.stats.set("checkpoint", f"{event.path}  (step {event.step})")
        elif isinstance(event, ev.FinishedEvent):
            self.last_finish = event
            self.stats.set("status", f"{event.reason} at step {event.step}")
            if event.reason == RUN_COMPLETE:  # issue 22 N11: a resume with nothing left; the words are app's
                self.stats.set("step", f"{event.step} / {event.step}")
                self._show_notice(run_complete_message(event.step))
        elif isinstance(event, ev.FailedEvent):
            self.last_failure = event
            started = self._last_step is not None
            self.stats.set("status", f"failed at step {event.step}" if started else "failed before the first step")
            self._show_error(f"<b>{event.message}</b><br>{FAILURE_HINTS.get(event.kind, '')}")

    @Slot()
    def _on_finished(self) -> None:
        """The task has ended and every snapshot of it has been shown (the runner's `finished` comes last)."""
        self._control = None
        self.stats.end_session()  # no ETA once nothing trains
        reason = "failed" if self.last_failure else (self.last_finish.reason if self.last_finish else "stopped")
        if self.last_finish is None and self.last_failure is None:
            self.stats.set("status", "stopped")
        self.session.move(Phase.ENDED)
        self.refresh_runs()
        self.training_ended.emit(reason)

    def _show_timestep_loss(self, run: "Run") -> None:
        """The loss by timestep stored with a reopened run, or why there is none (a damaged file: a notice)."""
        try:
            record = run.timestep_loss()
        except ValueError as exc:
            self._show_notice(f"The loss by timestep of this run is not shown: {exc}")
            self.bucket_plot.clear(UNREADABLE_MESSAGE)
            return
        if record is None:
            self.bucket_plot.clear(NOT_STORED_MESSAGE)
        else:
            self.bucket_plot.set_buckets(record.edges, record.means, caption=f"stored at step {record.step}")

    def _restore_form(self) -> None:
        """The form's values of the last launch (ignored, with a log line, when unreadable)."""
        text = self._state.settings.value(FORM_SETTINGS_KEY)
        if not text:
            return
        try:
            self.form.set_run_config(RunConfig.from_json(str(text), source="settings"))
        except (ValueError, TypeError, KeyError) as exc:
            log.info("the remembered training form is not restored: %s", exc)

    def _remember_form(self) -> None:
        try:
            config = self.form.run_config()
            if not config.data.source:  # an empty source would not load back: the default stands in
                config = replace(config, data=replace(config.data, source=DataConfig().source))
            text = json.dumps(config.to_dict())
        except (ValueError, TypeError) as exc:  # a half-typed value: keep the last good one
            log.debug("training form not remembered: %s", exc)
            return
        self._state.settings.setValue(FORM_SETTINGS_KEY, text)

    def _open_selected(self) -> None:
        path = self.runs_combo.currentData()
        if path:
            self.open_run(path)

    def _browse_run(self) -> None:
        from ddpm_studio.training.runs import runs_root

        folder = QFileDialog.getExistingDirectory(self, "Open a training run", str(runs_root()))
        if folder:
            self.open_run(folder)

    def _show_error(self, html: str) -> None:
        self.error_label.setText(html)
        self.error_label.show()

    def _hide_error(self) -> None:
        self.error_label.hide()
        self.error_label.clear()

    def _show_notice(self, text: str) -> None:
        self.notice_label.setText(text)
        self.notice_label.show()

    def _update_buttons(self) -> None:
        busy, phase = self.is_busy(), self.session.phase
        paused = phase is Phase.PAUSED
        problem = None if busy else self.form.problem()
        self.problem_label.setText(problem or "")
        self.problem_label.setVisible(bool(problem))
        self.start_button.setEnabled(not busy and problem is None)
        self.pause_button.setEnabled(phase in (Phase.TRAINING, Phase.PAUSED))
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setIcon(self._play_icon if paused else self._pause_icon)
        self.stop_button.setEnabled(self.session.can(Phase.STOPPING))
        self.form.setEnabled(not busy)
        for b in (self.open_button, self.browse_button):
            b.setEnabled(not busy)
        self.open_button.setEnabled(not busy and self.runs_combo.count() > 0)
        self.resume_button.setEnabled(not busy and self._reopened is not None)
        self.losses_button.setEnabled(not busy and self._reopened is not None and self.checkpoint_path is not None)
