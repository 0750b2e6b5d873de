"""TensorBoard: a run's numbers where a lab's other runs are (optional; the `tensorboard` extra).

`TensorBoardLog` is an event sink: called with each of the Trainer's events (events.py), it writes them with
torch's `SummaryWriter` into `<log dir>/<run name>/`, one TensorBoard run per studio run:

    train/loss, train/lr, train/images_per_s    every step (StepEvent); any other float the event carries
                                                (a gradient norm) as train/<its name>
    quality/<metric>                            every scoring of the EMA model (MetricsEvent: swd, precision, ...)
    quality_floor/<metric>                      real vs real at the same counts, once (its step: the first point)
    preview                                     the EMA preview grid (PreviewEvent), at its step
    outcome                                     a text: how training ended (FinishedEvent / FailedEvent)

The x axis is the run's step; a resumed run's log is purged after the step it resumes from (SummaryWriter's
`purge_step`), so steps lost since the checkpoint are not drawn twice. Without the package installed,
`require_tensorboard()` raises TensorBoardUnavailable with one line naming the extra.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

from ddpm_studio.paths import data_home
from ddpm_studio.training.events import (
    FailedEvent,
    FinishedEvent,
    MetricsEvent,
    PreviewEvent,
    StepEvent,
    TrainingEvent,
    ValidationEvent,
)

log = logging.getLogger(__name__)

INSTALL_HINT = "TensorBoard logging needs the tensorboard package: pip install 'ddpm-studio[tensorboard]'"
STEP_BOOKKEEPING = frozenset({"step", "epoch", "total_steps", "elapsed_s"})  # StepEvent fields that are not curves


class TensorBoardUnavailable(ValueError):
    """The tensorboard package is not installed; str() is INSTALL_HINT."""


def tensorboard_available() -> bool:
    """True when the tensorboard package can be imported (torch's SummaryWriter needs it)."""
    return importlib.util.find_spec("tensorboard") is not None


def require_tensorboard() -> None:
    """TensorBoardUnavailable (one line naming the extra) unless tensorboard is installed."""
    if not tensorboard_available():
        raise TensorBoardUnavailable(INSTALL_HINT)


def default_tensorboard_dir() -> Path:
    """Where the GUI's TensorBoard logs go: beside the runs folder ($DDPM_STUDIO_HOME/tensorboard, else the
    platformdirs user data dir's)."""
    return data_home() / "tensorboard"


class TensorBoardLog:
    """Writes a run's events into `<log_dir>/<run_name>/`; call it with every TrainingEvent, then `close()`."""

    def __init__(self, log_dir: Path | str, run_name: str, *, start_step: int = 0) -> None:
        """`start_step`: the step training resumes from (0 for a new run)."""
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only when asked for

        self.path = Path(log_dir) / run_name
        # a resume from step S purges what an earlier session logged after S (steps lost since the checkpoint)
        self.writer = SummaryWriter(log_dir=str(self.path), purge_step=start_step + 1 if start_step > 0 else None)
        self._floor_written = False

    def __call__(self, event: TrainingEvent) -> None:
        if isinstance(event, StepEvent):
            self._step(event)
        elif isinstance(event, MetricsEvent):
            self._metrics(event)
        elif isinstance(event, ValidationEvent):
            if _is_scalar(event.loss):
                self.writer.add_scalar("validation/loss", event.loss, event.step)
        elif isinstance(event, PreviewEvent):
            self.writer.add_images("preview", event.preview, event.step, dataformats="NHWC")  # uint8 (N, H, W, C)
        elif isinstance(event, FinishedEvent):
            self.writer.add_text("outcome", f"{event.reason} at step {event.step}", event.step)
            self.writer.flush()
        elif isinstance(event, FailedEvent):
            self.writer.add_text("outcome", f"failed ({event.kind}) at step {event.step}: {event.message}",
                                 event.step)
            self.writer.flush()

    def _step(self, event: StepEvent) -> None:
        for field in fields(event):
            value = getattr(event, field.name)
            if field.name not in STEP_BOOKKEEPING and _is_scalar(value):
                self.writer.add_scalar(f"train/{field.name}", float(value), event.step)

    def _metrics(self, event: MetricsEvent) -> None:
        for name, value in event.metrics.items():
            if _is_scalar(value):
                self.writer.add_scalar(f"quality/{name}", float(value), event.step)
        if event.floor and not self._floor_written:
            for name, value in event.floor.items():
                if _is_scalar(value):
                    self.writer.add_scalar(f"quality_floor/{name}", float(value), event.step)
            self._floor_written = True

    def close(self) -> None:
        """Flush and close the event file (a failure to write it is logged, never fatal to training)."""
        try:
            self.writer.close()
        except OSError as exc:
            log.warning("could not finish the TensorBoard log %s: %s", self.path, exc)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
