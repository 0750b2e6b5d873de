"""Occasional work kept within a share of the training time (the previews, the live quality metrics).

A job that took c seconds is followed by the next one after c·(1 − s)/s more seconds of training, so the jobs
take c / (c + c(1 − s)/s) = s of the time however small the dataset or fast the step (a 25-image folder is one
step per epoch: a preview at every epoch's end would take ~90 % of it). Before the first job, c is an
estimate (the caller's, from the step time); after it, the measured cost of the last one.
"""

from __future__ import annotations

from collections.abc import Callable

FORWARD_SHARE_OF_STEP = 1.0 / 3.0  # a forward pass ≈ a third of a training step (forward + backward + optimiser)


class TimeShareCadence:
    """When the next job is due under a time share `time_share` (0: never by time)."""

    def __init__(self, time_share: float) -> None:
        self.time_share = time_share
        self._last_end_s = 0.0  # training time when the last job ended (or this session began)
        self._last_cost_s: float | None = None  # seconds the last job took

    def due_by_time(self, elapsed_s: float, estimate_cost: Callable[[], float]) -> bool:
        """Is the interval c·(1 − s)/s since the last job's end over? `estimate_cost` gives c before any job."""
        if self.time_share <= 0:
            return False
        cost = self._last_cost_s if self._last_cost_s is not None else estimate_cost()
        return elapsed_s - self._last_end_s >= cost * (1.0 - self.time_share) / self.time_share

    def record(self, seconds: float, elapsed_s: float) -> None:
        """A job took `seconds` and ended at `elapsed_s` of training time."""
        self._last_cost_s, self._last_end_s = seconds, elapsed_s

    def restart(self, elapsed_s: float, last_end_s: float | None = None, last_cost_s: float | None = None) -> None:
        """A resumed session starts counting at `elapsed_s` (its first job comes after a full interval), or,
        given the last stored job (its end and cost, from an earlier session), keeps that session's cadence."""
        self._last_end_s = elapsed_s if last_end_s is None else min(last_end_s, elapsed_s)
        if last_cost_s is not None:
            self._last_cost_s = last_cost_s
