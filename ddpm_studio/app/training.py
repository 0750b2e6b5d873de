"""Training jobs: create a run or reopen one, load its data, and hand back a Trainer ready to start.

Both faces train through `prepare`: the CLI's `train` (also under torchrun, where rank 0 makes the run
folder and the others join it) and the GUI's training worker (on its QThread). Starting is
`TrainingSession.run(on_event)`; stopping is `request_stop()` from any thread (the Trainer writes a
checkpoint first). A run is trained by one process at a time: the Trainer holds the run's lock
(`training.run_lock`) while it exists, and a resumed run's config.json is only rewritten under that lock.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ddpm_studio.data import ImageDataset, load_dataset
from ddpm_studio.data.problems import DataSourceError, Problem
from ddpm_studio.data.synthetic import BUILTIN_PREFIX
from ddpm_studio.training.checkpoint import CheckpointError
from ddpm_studio.training.config import RunConfig
from ddpm_studio.training.devices import resolve_device
from ddpm_studio.training.events import FailedEvent, FinishedEvent, TrainingEvent
from ddpm_studio.training.run_lock import RunLock
from ddpm_studio.training.runs import Run, create_run, open_run, remove_unused_run
from ddpm_studio.training.tensorboard_log import TensorBoardLog, require_tensorboard
from ddpm_studio.training.trainer import Trainer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingJob:
    """A new run from `config`, or `resume` an existing one (a folder or a name under `runs_dir`).

    On resume only the length (`max_steps`/`epochs`: the total to reach), `max_minutes` and `device` may
    change; None keeps the run's own value.
    """

    config: RunConfig | None = None
    resume: Path | str | None = None
    runs_dir: Path | None = None  # where runs live (default: the user data folder)
    name: str | None = None  # the new run's folder name (default: date-data-size)
    max_steps: int | None = None
    epochs: int | None = None
    max_minutes: float | None = None
    device: str | None = None
    tensorboard: Path | None = None  # also log scalars and previews here for TensorBoard (training/tensorboard_log.py)


def resumed_config(config: RunConfig, job: TrainingJob) -> RunConfig:
    """The run's own config with the job's length, time limit and device (validated).

    A time budget's planned step total (`planned_steps`, training/budget.py) is kept when the length does not
    change, so the resumed run follows its schedule exactly; a new budget is planned again from the step
    reached, and a new length in steps or epochs (without minutes) replaces the budget."""
    training = config.training
    if job.max_steps is not None or job.epochs is not None:
        training = replace(training, max_steps=job.max_steps, epochs=job.epochs)
        if job.max_minutes is None:
            training = replace(training, max_minutes=None, planned_steps=None)
    if job.max_minutes is not None and job.max_minutes != training.max_minutes:
        training = replace(training, max_minutes=job.max_minutes, planned_steps=None)
    if job.device is not None:
        training = replace(training, device=job.device)
    resumed = replace(config, training=training)
    resumed.validate()
    return resumed


RUN_COMPLETE = "complete"  # FinishedEvent.reason of a resumed run that had no step left to train
GUI_LENGTH_HINT = "raise 'train for' to continue"


def run_complete_message(step: int, how: str = GUI_LENGTH_HINT) -> str:
    """What a face says when a resume finds the run already at its end (issue 22 N11)."""
    return f"The run is complete ({step:,} / {step:,} steps): {how}."


@dataclass
class TrainingSession:
    """A prepared job: its run folder, its data and the Trainer that will train it."""

    run: Run
    dataset: ImageDataset
    trainer: Trainer
    is_new: bool = False  # a run this job created (removed again if it fails before its first step)
    tensorboard: TensorBoardLog | None = None  # the job's TensorBoard sink (main process only)

    @property
    def problems(self) -> list[Problem]:
        """Files of the data source that were skipped (unreadable), for the faces to mention."""
        return list(getattr(self.dataset, "problems", []))

    @property
    def skipped_checkpoints(self) -> tuple[str, ...]:
        """One line per damaged newer checkpoint a resume passed over for an older one (for the faces to say)."""
        return self.trainer.skipped_checkpoints

    @property
    def validation_note(self) -> str | None:
        """The held-out split of the validation loss in one line, or why a new run has none (too few images);
        None for a run that says nothing (an older run without one)."""
        return self.trainer.validation_note

    @property
    def validation_warning(self) -> str | None:
        """`validation_note` when it says the run trains without a validation loss (the set is too small)."""
        return self.trainer.validation_note if self.trainer.split is None else None

    @property
    def is_complete(self) -> bool:
        """A resumed run already at its last step (its length was not raised): nothing to train."""
        total = self.trainer.total_steps
        return total is not None and self.trainer.step >= total

    def run_training(self, on_event: Callable[[TrainingEvent], None]) -> None:
        """Train on this thread until done, stopped or failed; every event goes to `on_event`. A run that is
        already complete trains nothing and writes nothing: one FinishedEvent with reason RUN_COMPLETE. A new
        run that failed before completing a step (out of memory at step 1) leaves no run folder behind."""
        if self.is_complete:
            log.info("%s: %s", self.run.path, run_complete_message(self.trainer.step))
            on_event(FinishedEvent(step=self.trainer.step, reason=RUN_COMPLETE))
            if self.tensorboard is not None:
                self.tensorboard.close()
            return
        failed = []

        def watch(event: TrainingEvent) -> None:
            if isinstance(event, FailedEvent):
                failed.append(event)
            self._to_tensorboard(event)
            on_event(event)

        try:
            self.trainer.run(watch)
        finally:
            if self.tensorboard is not None:
                self.tensorboard.close()
        if failed and failed[-1].step == 0 and self.is_new and self.trainer.dist.is_main:
            remove_unused_run(self.run)

    def request_stop(self) -> None:
        self.trainer.request_stop()

    def _to_tensorboard(self, event: TrainingEvent) -> None:
        """Feed the TensorBoard sink; a failure to write there is said once and ends that log, never training."""
        if self.tensorboard is None:
            return
        try:
            self.tensorboard(event)
        except Exception as exc:  # noqa: BLE001 - an optional log must not fail the training it records
            log.warning("TensorBoard logging stopped: %s", exc)
            self.tensorboard = None


def _share(path: str | None) -> str | None:
    return path


def prepare(job: TrainingJob, *, is_main: bool = True, share_path: Callable[[Any], Any] = _share,
            cancel: Callable[[], bool] | None = None, on_status: Callable[[str], None] | None = None,
            on_progress: Callable[[int, int], None] | None = None) -> TrainingSession:
    """Create or reopen the run, load its data and build the Trainer.

    Under DDP only the main process (`is_main`) creates the folder or rewrites config.json; `share_path`
    gives every process the main one's run folder (`training.distributed.broadcast_from_main`). `cancel`
    lets a face abandon the data loading (DataLoadCancelled); `on_status` names each stage.
    """
    status = on_status or (lambda _text: None)
    if job.tensorboard is not None:
        require_tensorboard()  # one line naming the extra, before anything is loaded or written
    if job.resume is not None:
        run = open_run(job.resume, root=job.runs_dir)
        config = resumed_config(run.config, job)
        resolve_device(config.training.device)  # an unusable device is refused before anything is written
        if is_main and config != run.config:
            with RunLock(run.path):  # never rewrite the config of a run another process is training
                run.save_config(config)
        run.config = config
        if run.latest_checkpoint() is None:  # said before the data set is decoded, not after
            raise CheckpointError(f"run {run.name} has no checkpoint to resume from")
        dataset = _load(config, status, cancel, on_progress)
    else:
        if job.config is None:
            raise ValueError("no configuration to train")
        config = with_absolute_source(job.config)
        config.validate()
        resolve_device(config.training.device)
        dataset = _load(config, status, cancel, on_progress)  # before the run exists: bad data takes no name
        if dataset.label_problem is not None:  # labels: auto found classes it cannot use (data/labels.py)
            raise DataSourceError(dataset.label_problem)
        config = with_data_classes(config, dataset.classes)
        run = create_run(config, root=job.runs_dir, name=job.name) if is_main else None
    path = share_path(str(run.path) if run is not None else None)
    run = run if run is not None else Run(path=Path(path), config=config)
    status("building the model …")
    try:
        trainer = Trainer.resume(run, dataset) if job.resume is not None else Trainer(config, dataset, run)
        board = (TensorBoardLog(job.tensorboard, run.name, start_step=trainer.step)
                 if job.tensorboard is not None and is_main else None)
    except BaseException:
        if job.resume is None and is_main:
            remove_unused_run(run)  # a model that cannot be built leaves no empty run folder behind
        raise
    return TrainingSession(run, dataset, trainer, is_new=job.resume is None and is_main, tensorboard=board)


def with_data_classes(config: RunConfig, classes: tuple[str, ...]) -> RunConfig:
    """A new run's config made class-conditional on the data's classes (their names and order go into
    config.json, so the run still says "circle", not "0", years later); unlabelled data leaves it as it is."""
    if not classes or config.model.num_classes:
        return config
    conditional = replace(config, model=replace(config.model, num_classes=len(classes)),
                          data=replace(config.data, classes=tuple(classes)))
    conditional.validate()
    return conditional


def with_absolute_source(config: RunConfig) -> RunConfig:
    """The config with a relative data folder or .zip made absolute, so the run resumes from any directory
    (builtin: sources are left as they are)."""
    source = config.data.source
    if not source.strip() or source.strip().lower().startswith(BUILTIN_PREFIX):
        return config
    absolute = os.path.abspath(os.path.expanduser(source))
    return config if absolute == source else replace(config, data=replace(config.data, source=absolute))


def _load(config: RunConfig, status: Callable[[str], None], cancel: Callable[[], bool] | None,
          on_progress: Callable[[int, int], None] | None) -> ImageDataset:
    status(f"loading {config.data.source} …")
    dataset = load_dataset(config.data, cancel=cancel, on_progress=on_progress)
    if len(dataset) == 0:
        raise ValueError(f"no usable images in {config.data.source}")
    return dataset
