"""A time budget as a way to train: measure the step rate, then fix the step horizon once.

`--minutes N` (TrainingConfig.max_minutes) must give a whole run, not the first N minutes of a run planned
for some other length: the warm-up, the learning-rate decay (lr_schedule.py) and the stopping step all need
the step total S in advance. The Trainer therefore measures its own speed over the first seconds and plans

    S = s_m + ⌊(B − e_m) · (1 − o) / τ⌋

where B is the budget in seconds of training time, s_m and e_m the step and training time when the measurement
ended, τ the mean seconds per step measured after the first SKIP_STEPS steps (their one-off costs: oneDNN kernel
selection, allocator growth, lazy imports), and o the share of training time the previews and the live metrics
are allowed (TrainingConfig.preview_time_share + metrics_time_share). S is written into config.json
(`training.planned_steps`), so a resumed run follows the same schedule exactly; a resume with a different budget
plans again from where it is (app.training.resumed_config).

Re-planned once, after the warm-up (issue 22 N17: a 10-minute run ended after 9:15, planned from 121 ms per step
measured over the first 149 steps while the run averaged 118 ms, with the previews' and metrics' share reserved
but not all spent): when REPLAN_SHARE of the budget is spent, the rate since the first plan *including* the
previews, metrics and checkpoints actually taken, τ' = (e − e_p) / (s − s_p), replaces the first guess:

    S' = s + ⌊(B − e) / τ'⌋

so the end lands near the budget on a machine whose speed changed in the first part of the run. After that the
plan is fixed (the learning-rate decay moves once, by the correction); the budget stays a limit too: if the
machine slows down later (other jobs start), the run stops at GRACE × B of training time even before step S'.
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
REPLAN_SHARE = 0.25  # re-plan once when this share of the budget is spent (well after warm-up and first previews)
REPLAN_MIN_STEPS = 20  # ... and at least this many steps after the first plan


@dataclass(frozen=True)
class BudgetPlan:
    """The outcome of the measurement: what was measured and the step total chosen."""

    planned_steps: int  # S
    seconds_per_step: float  # τ
    measured_steps: int  # steps in the measurement window
    planned_at_step: int  # s_m
    budget_s: float  # B
    replanned: bool = False  # the second plan, from the rate with the previews' and metrics' real cost

    def describe(self) -> str:
        if self.replanned:
            return (f"time budget {self.budget_s / 60:.3g} min re-planned at step {self.planned_at_step}: "
                    f"{self.seconds_per_step * 1000:.0f} ms per step over the last {self.measured_steps} steps "
                    f"(previews and metrics included); {self.planned_steps} steps in all")
        return (f"time budget {self.budget_s / 60:.3g} min: {self.seconds_per_step * 1000:.0f} ms per step measured "
                f"over {self.measured_steps} steps; planned {self.planned_steps} steps in all")


class BudgetPlanner:
    """Watches (step, training time) pairs after each step and answers a BudgetPlan once it has measured enough,
    then (while `replan_pending`) once more, the re-plan, when REPLAN_SHARE of the budget is spent."""

    def __init__(self, budget_s: float, overhead_share: float = 0.0) -> None:
        """`budget_s`: the run's whole budget B (a resumed run's training time counts against it)."""
        if not budget_s > 0 or not math.isfinite(budget_s):
            raise ValueError(f"the time budget must be a positive number of seconds, got {budget_s!r}")
        self.budget_s, self.overhead_share = float(budget_s), min(max(overhead_share, 0.0), 0.9)
        self.window_s = min(MEASURE_MAX_S, max(MEASURE_MIN_S, MEASURE_SHARE * self.budget_s))
        self._start: tuple[int, float] | None = None  # (step, time) where the measurement began
        self._first_step: int | None = None
        self._first_plan: BudgetPlan | None = None
        self._first_plan_s = 0.0
        self._replanned = False

    @property
    def replan_pending(self) -> bool:
        """The first plan is made and the one re-plan is still to come: keep calling `observe`."""
        return self._first_plan is not None and not self._replanned

    def observe(self, step: int, elapsed_s: float) -> BudgetPlan | None:
        """After step `step` (1-based count of steps done) at `elapsed_s` of training time: the plan, or None
        while still measuring; after the first plan, the re-plan or None. Call it until it answers and
        `replan_pending` is False, then no more."""
        if self._first_plan is not None:
            return self._replan(step, elapsed_s)
        plan = self._plan(step, elapsed_s)
        if plan is not None:
            self._first_plan, self._first_plan_s = plan, elapsed_s
            self._replanned = elapsed_s >= REPLAN_SHARE * self.budget_s  # measured that long already: no re-plan
        return plan

    def _replan(self, step: int, elapsed_s: float) -> BudgetPlan | None:
        first = self._first_plan
        assert first is not None
        steps, seconds = step - first.planned_at_step, elapsed_s - self._first_plan_s
        if elapsed_s < REPLAN_SHARE * self.budget_s or steps < REPLAN_MIN_STEPS:
            return None
        self._replanned = True
        tau = max(seconds / steps, 1e-9)  # τ': previews, metrics and checkpoints since the first plan included
        remaining = max(0.0, self.budget_s - elapsed_s)
        return BudgetPlan(planned_steps=step + int(remaining / tau), seconds_per_step=tau, measured_steps=steps,
                          planned_at_step=step, budget_s=self.budget_s, replanned=True)

    def _plan(self, step: int, elapsed_s: float) -> BudgetPlan | None:
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
