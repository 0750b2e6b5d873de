"""A time budget as a way to train: measure the step rate, then fix the step horizon once.

`--minutes N` (TrainingConfig.max_minutes) must give a whole run, not the first N minutes of a run planned
for some other length: the warm-up, the learning-rate decay (lr_schedule.py) and the stopping step all need
the step total S in advance. The Trainer therefore measures its own speed over the first seconds and plans

    S = s_m + ⌊(B − e_m) · (1 − o) / τ⌋

where B is the budget in seconds of training time, s_m and e_m the step and training time when the measurement
ended, τ the mean seconds per step measured after the first SKIP_STEPS steps (their one-off costs: oneDNN kernel
selection, allocator growth, lazy imports), and o the share of training time the previews and the live metrics
are allowed (TrainingConfig.preview_time_share + metrics_time_share). S is written into config.json
(`training.planned_steps`) and never re-measured, so a resumed run follows the same schedule exactly; a resume
with a different budget plans again from where it is (app.training.resumed_config).

The budget stays a limit too: if the machine slows down after the plan (other jobs start), the run stops
at GRACE × B of training time even before step S.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ddpm_studio.training.config import MAX_STEPS

SKIP_STEPS = 3  # steps not measured (first-step costs)
MEASURE_SHARE = 0.03  # measure over this share of the budget ...
MEASURE_MIN_S, MEASURE_MAX_S = 3.0, 20.0  # ... clamped to these many seconds
MEASURE_MIN_STEPS = 10  # and at least this many steps
GRACE = 1.1  # hard stop at this multiple of the budget (the plan was too optimistic)


@dataclass(frozen=True)
class BudgetPlan:
    """The outcome of the measurement: what was measured and the step total chosen."""

    planned_steps: int  # S
    seconds_per_step: float  # τ
    measured_steps: int  # steps in the measurement window
    planned_at_step: int  # s_m
    budget_s: float  # B

    def describe(self) -> str:
        return (f"time budget {self.budget_s / 60:.3g} min: {self.seconds_per_step * 1000:.0f} ms per step measured "
                f"over {self.measured_steps} steps; planned {self.planned_steps} steps in all")


class BudgetPlanner:
    """Watches (step, training time) pairs after each step and answers a BudgetPlan once it has measured enough."""

    def __init__(self, budget_s: float, overhead_share: float = 0.0) -> None:
        """`budget_s`: the run's whole budget B (a resumed run's training time counts against it)."""
        if not budget_s > 0 or not math.isfinite(budget_s):
            raise ValueError(f"the time budget must be a positive number of seconds, got {budget_s!r}")
        self.budget_s, self.overhead_share = float(budget_s), min(max(overhead_share, 0.0), 0.9)
        self.window_s = min(MEASURE_MAX_S, max(MEASURE_MIN_S, MEASURE_SHARE * self.budget_s))
        self._start: tuple[int, float] | None = None  # (step, time) where the measurement began
        self._first_step: int | None = None

    def observe(self, step: int, elapsed_s: float) -> BudgetPlan | None:
        """After step `step` (1-based count of steps done) at `elapsed_s` of training time: the plan, or None
        while still measuring. Call it until it answers, then no more."""
        if self._first_step is None:
            self._first_step = step
        if self._start is None:
            if step - self._first_step + 1 >= SKIP_STEPS:
                self._start = (step, elapsed_s)
            return None
        start_step, start_s = self._start
        measured, seconds = step - start_step, elapsed_s - start_s
        spent_enough = seconds >= self.window_s and measured >= MEASURE_MIN_STEPS
        if not spent_enough and elapsed_s < self.budget_s:
            return None
        tau = max(seconds / max(measured, 1), 1e-9)
        remaining = max(0.0, self.budget_s - elapsed_s) * (1.0 - self.overhead_share)
        planned = min(step + int(remaining / tau), MAX_STEPS)  # a budget of years stays a number a GUI can show
        return BudgetPlan(planned_steps=planned, seconds_per_step=tau, measured_steps=measured,
                          planned_at_step=step, budget_s=self.budget_s)


def time_is_up(elapsed_s: float, max_minutes: float | None) -> bool:
    """The hard limit of a budgeted run: GRACE × the budget of training time is spent."""
    return max_minutes is not None and elapsed_s >= GRACE * 60.0 * max_minutes
