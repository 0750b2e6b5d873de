"""What a run records as it trains, besides checkpoints and previews: one history.jsonl line per step and
the running loss by timestep bucket (timestep_loss.py).

History lines are buffered and appended every HISTORY_FLUSH_EVERY steps, before every checkpoint and when
training ends, so a crash loses at most the steps since the last flush (and a resume truncates the history
back to its checkpoint anyway). Only rank 0 records under DDP.
"""

from __future__ import annotations

import json
import time

from torch import Tensor

from ddpm_studio.training.runs import Run
from ddpm_studio.training.timestep_loss import TimestepLossTracker

HISTORY_FLUSH_EVERY = 50  # steps between appends to history.jsonl


class RunRecorder:
    """Buffers the per-step records of `run` and writes them into its folder on `flush`."""

    def __init__(self, run: Run, timesteps: int) -> None:
        self.run = run
        self.tracker = TimestepLossTracker(timesteps)
        self._lines: list[str] = []

    def record(self, *, step: int, epoch: int, loss: float, lr: float, elapsed_s: float, t: Tensor,
               per_sample: Tensor) -> None:
        """One step: its history line, and its per-sample losses (B,) at timesteps `t` (B,) for the buckets."""
        self.tracker.update(t, per_sample)
        self._lines.append(json.dumps({"step": step, "epoch": epoch, "loss": loss, "lr": lr,
                                       "time": round(elapsed_s, 4), "wall": round(time.time(), 3)}) + "\n")
        if len(self._lines) >= HISTORY_FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Append the buffered history lines to history.jsonl."""
        if not self._lines:
            return
        with open(self.run.history_path, "a", encoding="utf-8") as f:
            f.writelines(self._lines)
        self._lines.clear()
