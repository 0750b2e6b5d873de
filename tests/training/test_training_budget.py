"""The time budget (`max_minutes`): the step total is planned once from the measured step rate, recorded in
config.json, and a resumed run follows it exactly. A fake clock makes every step take exactly 2 seconds."""

from __future__ import annotations

import json

import pytest
import torch

from ddpm_studio.app.training import TrainingJob, resumed_config
from ddpm_studio.training.budget import GRACE, BudgetPlanner
from ddpm_studio.training.checkpoint import load_checkpoint
from ddpm_studio.training.config import TrainingConfig
from ddpm_studio.training.events import FinishedEvent, StepEvent
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer
from tests.training.conftest import TickClock, budget_config  # 1 minute at 2 s a step


def test_planner_measures_after_the_first_steps_and_plans_the_rest_of_the_budget():
    planner = BudgetPlanner(budget_s=100.0, overhead_share=0.1)
    answers = []
    for step in range(1, 40):
        answers.append(planner.observe(step, 0.5 * step))
        if answers[-1] is not None:
            break
    plan = answers[-1]
    assert plan is not None and answers.count(None) == len(answers) - 1
    assert plan.seconds_per_step == pytest.approx(0.5)
    assert plan.measured_steps >= 10 and plan.planned_at_step == 3 + plan.measured_steps
    remaining = (100.0 - 0.5 * plan.planned_at_step) * 0.9
    assert plan.planned_steps == plan.planned_at_step + int(remaining / 0.5)


def test_planner_answers_when_the_budget_is_spent_during_the_measurement():
    planner = BudgetPlanner(budget_s=3.0)
    answers = [planner.observe(step, 1.0 * step) for step in range(1, 5)]
    assert answers[:3] == [None, None, None] and answers[3].planned_steps == 4


def test_the_horizon_is_planned_once_recorded_and_ends_the_run(tiny_dataset, tmp_path):
    config = budget_config()
    run = create_run(config, root=tmp_path, name="budget")
    trainer = Trainer(config, tiny_dataset, run, device="cpu", clock=TickClock())
    events: list = []
    trainer.run(events.append)
    steps = [e for e in events if isinstance(e, StepEvent)]
    # steps 1-3 are not measured; steps 4-13 take 20 s; the other 34 s of the minute hold 17 steps
    assert trainer.budget_plan is not None and trainer.budget_plan.planned_steps == 30
    assert [e.total_steps for e in steps[:13]] == [None] * 13 and {e.total_steps for e in steps[13:]} == {30}
    assert events[-1] == FinishedEvent(step=30, reason="completed")
    assert trainer.elapsed_s == pytest.approx(61.0)  # 30 steps of 2 s, then the final checkpoint's 1 s
    recorded = json.loads((run.path / "config.json").read_text())["training"]
    assert recorded["planned_steps"] == 30 and recorded["max_minutes"] == 1.0
    assert open_run(run.path).config.training.planned_steps == 30
    assert load_checkpoint(run.latest_checkpoint(), with_state=False).config.training.planned_steps == 30
    # the warm-up ran before the plan; the cosine then decays to its floor exactly at the planned last step
    assert steps[0].lr == pytest.approx(config.training.lr / 2)
    assert steps[-1].lr == pytest.approx(config.training.lr * config.training.lr_min_ratio)


def test_a_resumed_budget_run_follows_the_recorded_plan_exactly(tiny_dataset, tmp_path):
    config = budget_config()
    whole = Trainer(config, tiny_dataset, create_run(config, root=tmp_path, name="whole"), device="cpu",
                    clock=TickClock())
    whole.run(lambda event: None)

    run = create_run(config, root=tmp_path, name="parts")
    first = Trainer(config, tiny_dataset, run, device="cpu", clock=TickClock())
    first.run(lambda event: first.request_stop() if isinstance(event, StepEvent) and event.step == 20 else None)
    assert first.step == 20 and open_run(run.path).config.training.planned_steps == 30

    clock = TickClock()
    clock.now = 500.0  # the new process's clock reads anything: only differences count
    second = Trainer.resume(open_run(run.path), tiny_dataset, device="cpu", clock=clock)
    assert second.budget_plan is None and second.total_steps == 30  # not measured again
    events: list = []
    second.run(events.append)
    assert events[-1] == FinishedEvent(step=30, reason="completed")
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key


def test_the_budget_is_also_a_hard_limit(tiny_dataset, tmp_path):
    # a plan already recorded (here far too optimistic) cannot make the run outlast GRACE × the budget
    config = budget_config(planned_steps=1000)
    trainer = Trainer(config, tiny_dataset, create_run(config, root=tmp_path), device="cpu", clock=TickClock())
    events: list = []
    trainer.run(events.append)
    assert trainer.step == int(GRACE * 60.0 / 2) and events[-1].reason == "completed"


def test_resuming_keeps_the_plan_unless_the_length_changes():
    config = budget_config(planned_steps=30)
    same = resumed_config(config, TrainingJob(resume="x", max_minutes=1.0, device="cpu"))
    assert same.training.planned_steps == 30
    longer = resumed_config(config, TrainingJob(resume="x", max_minutes=3.0))
    assert (longer.training.max_minutes, longer.training.planned_steps) == (3.0, None)  # planned again
    by_steps = resumed_config(config, TrainingJob(resume="x", max_steps=80))
    assert (by_steps.training.max_steps, by_steps.training.max_minutes, by_steps.training.planned_steps) == (
        80, None, None)


def test_a_budget_alone_is_a_valid_length_and_planned_steps_must_be_positive():
    TrainingConfig(max_steps=None, max_minutes=2.0).validate()
    with pytest.raises(ValueError, match="planned_steps"):
        TrainingConfig(max_minutes=2.0, planned_steps=0).validate()


# --- re-planned once after the warm-up (issue 22 N17) -----------------------------------------------------------

def test_the_replan_uses_the_rate_with_the_previews_real_cost():
    planner = BudgetPlanner(budget_s=600.0, overhead_share=0.1)
    step, elapsed, first = 0, 0.0, None
    while first is None:
        step, elapsed = step + 1, elapsed + 0.121
        first = planner.observe(step, elapsed)
    assert planner.replan_pending and first.seconds_per_step == pytest.approx(0.121)
    replan = None
    while replan is None:  # the run is faster than measured (118 ms) and its previews cost 2 %, not the 10 % kept
        step, elapsed = step + 1, elapsed + 0.118 * 1.02
        replan = planner.observe(step, elapsed)
    assert replan.replanned and not planner.replan_pending and elapsed >= 0.25 * 600
    assert replan.seconds_per_step == pytest.approx(0.118 * 1.02)
    assert replan.planned_steps == step + int((600.0 - elapsed) / (0.118 * 1.02))
    assert replan.planned_steps > first.planned_steps  # the budget is used, not ended 7 % early
    assert "re-planned at step" in replan.describe()


class ChangingClock(TickClock):
    """One second per reading (2 s per step) for the first `slow_reads` readings, then half a second (1 s)."""

    def __init__(self, slow_reads: int) -> None:
        super().__init__()
        self.reads, self.slow_reads = 0, slow_reads

    def __call__(self) -> float:
        self.reads += 1
        self.now += 1.0 if self.reads <= self.slow_reads else 0.5
        return self.now


def test_a_machine_that_speeds_up_after_the_plan_still_trains_to_the_budget(tiny_dataset, tmp_path):
    config = budget_config(max_minutes=2.0)
    run = create_run(config, root=tmp_path, name="faster")
    trainer = Trainer(config, tiny_dataset, run, device="cpu", clock=ChangingClock(slow_reads=3 * 15))
    events: list = []
    trainer.run(events.append)
    plan = trainer.budget_plan
    assert plan is not None and plan.replanned  # planned at 2 s per step, re-planned at 1 s
    assert 0.9 * 120 <= trainer.elapsed_s <= 1.05 * 120  # without the re-plan: 74 s of the 120
    assert json.loads((run.path / "config.json").read_text())["training"]["planned_steps"] == plan.planned_steps
