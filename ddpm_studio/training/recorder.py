"""What a run records as it trains, besides checkpoints and previews: one history.jsonl line per step and
the running loss by timestep bucket (timestep_loss.py, stored as timestep_loss.json).

History lines are buffered and appended every HISTORY_FLUSH_EVERY steps, before every checkpoint and when
training ends, so a crash loses at most the steps since the last flush (and a resume truncates the history
back to its checkpoint anyway). Each flush also rewrites timestep_loss.json atomically when it changed.
That file is a display statistic, not part of the exact-resume state: after a crash it may include steps
past the checkpoint a resume starts from, and a failure to write it is logged, never fatal.
outcome.json says how the last session ended (done / stopped / failed, with a failure's kind and message): removed
when a session starts, written when it ends, so a killed or crashed run has none (app/run_table.py then infers
its state from the history and the checkpoints). Only rank 0 records under DDP.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from torch import Tensor

from ddpm_studio.atomic import atomic_append, atomic_write_text
from ddpm_studio.errors_text import one_line
from ddpm_studio.training.run_files import is_int, read_json_file
from ddpm_studio.training.runs import OUTCOME_FILE, Run
from ddpm_studio.training.timestep_loss import TimestepLossTracker

log = logging.getLogger(__name__)

HISTORY_FLUSH_EVERY = 50  # steps between appends to history.jsonl
OUTCOME_STATES = ("done", "stopped", "failed")


class RunRecorder:
    """Buffers the per-step records of `run` and writes them into its folder on `flush`."""

    def __init__(self, run: Run, timesteps: int) -> None:
        self.run = run
        self.tracker = TimestepLossTracker(timesteps)
        self._lines: list[str] = []
        self._step = 0  # the last step recorded
        self._tracker_unsaved = False  # the tracker changed since timestep_loss.json was written

    def record(self, *, step: int, epoch: int, loss: float, lr: float, elapsed_s: float, t: Tensor,
               per_sample: Tensor, grad_norm: float | None = None, images_seen: int | None = None) -> None:
        """One step: its history line, and its per-sample losses (B,) at timesteps `t` (B,) for the buckets.
        `grad_norm` (before clipping) and `images_seen` are written when known (older runs lack them)."""
        self.tracker.update(t, per_sample)
        self._step, self._tracker_unsaved = step, True
        line: dict[str, float | int] = {"step": step, "epoch": epoch, "loss": loss, "lr": lr,
                                        "time": round(elapsed_s, 4), "wall": round(time.time(), 3)}
        if grad_norm is not None:
            line["grad_norm"] = round(grad_norm, 6)
        if images_seen is not None:
            line["images"] = images_seen
        self._lines.append(json.dumps(line) + "\n")
        if len(self._lines) >= HISTORY_FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Append the buffered history lines to history.jsonl (all or none of them: StorageError on a full disk or
        a read-only folder, the lines stay buffered) and store the loss by timestep."""
        if self._lines:
            atomic_append(self.run.history_path, self._lines, what="the history")
            self._lines.clear()
        if self._tracker_unsaved:
            try:
                atomic_write_text(self.run.timestep_loss_path, self.tracker.record(self._step).to_json())
            except OSError as exc:
                log.warning("could not store the loss by timestep in %s: %s", self.run.timestep_loss_path, exc)
            self._tracker_unsaved = False

    def begin(self) -> None:
        """A session starts: the last one's outcome no longer describes the run (a crash leaves none behind)."""
        try:
            (self.run.path / OUTCOME_FILE).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s of run %s: %s", OUTCOME_FILE, self.run.name, exc)

    def finish(self, state: str, step: int, kind: str | None = None, message: str | None = None) -> None:
        """Record how this session ended (one of OUTCOME_STATES; a failure's kind and one-line message); a failure
        to write it is logged, never fatal (the listing then infers the state from the other files)."""
        record = {"state": state, "step": step, "kind": kind, "message": message, "wall": round(time.time(), 3)}
        try:
            atomic_write_text(self.run.path / OUTCOME_FILE, json.dumps(record) + "\n", what=OUTCOME_FILE)
        except OSError as exc:
            log.warning("could not record the outcome of run %s: %s", self.run.name, exc)

    def resume(self) -> None:
        """Keep accumulating the run's stored loss by timestep; a missing or damaged file starts afresh."""
        try:
            record = self.run.timestep_loss()
            if record is not None:
                self.tracker.restore(record)
                self._step = record.step
        except ValueError as exc:
            log.warning("loss by timestep of run %s starts afresh: %s", self.run.name, exc)


def read_outcome(run_path: Path) -> dict[str, Any] | None:
    """outcome.json of a run, or None (absent: trained before it was written, crashed, or training now; unusable:
    with a warning naming the file)."""
    path = Path(run_path) / OUTCOME_FILE
    try:
        record = read_json_file(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s is not used: %s", path, one_line(exc))
        return None
    if not isinstance(record, dict) or record.get("state") not in OUTCOME_STATES or not is_int(record.get("step")):
        log.warning("%s is not used: its state must be one of %s and its step an integer", path,
                    ", ".join(OUTCOME_STATES))
        return None
    return record
