"""Learning-rate schedules: warm-up, constant or cosine decay, old configs, exact resume, the CLI flag."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.events import FinishedEvent, StepEvent
from ddpm_studio.training.lr_schedule import learning_rate
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer

PEAK, FLOOR = 1e-3, 0.1


def _trainer(tiny_config, tiny_dataset, tmp_path, **training):
    config = tiny_config(lr=PEAK, lr_min_ratio=FLOOR, **training)
    return Trainer(config, tiny_dataset, create_run(config, root=tmp_path), device="cpu")


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_warm_up_is_linear_for_both_schedules(tiny_config, tiny_dataset, tmp_path, schedule):
    trainer = _trainer(tiny_config, tiny_dataset, tmp_path, lr_schedule=schedule, warmup_steps=4, max_steps=20)
    assert [trainer.lr_at(s) for s in range(4)] == pytest.approx([PEAK * k / 4 for k in (1, 2, 3, 4)])


def test_constant_schedule_holds_the_peak_after_warm_up(tiny_config, tiny_dataset, tmp_path):
    trainer = _trainer(tiny_config, tiny_dataset, tmp_path, lr_schedule="constant", warmup_steps=4, max_steps=20)
    assert [trainer.lr_at(s) for s in (4, 11, 19)] == pytest.approx([PEAK] * 3)


def test_cosine_decays_from_the_peak_to_the_floor_at_the_last_step(tiny_config, tiny_dataset, tmp_path):
    # W = 4, S = 20: p = (s + 1 - 4) / 16, so s = 11 is the middle (p = 1/2) and s = 19 the end (p = 1)
    trainer = _trainer(tiny_config, tiny_dataset, tmp_path, lr_schedule="cosine", warmup_steps=4, max_steps=20)
    assert trainer.lr_at(3) == pytest.approx(PEAK)  # the end of the warm-up: p = 0
    assert trainer.lr_at(11) == pytest.approx(PEAK * (FLOOR + (1 - FLOOR) * 0.5))  # cos(π/2) = 0
    assert trainer.lr_at(19) == pytest.approx(PEAK * FLOOR)  # cos(π) = -1
    assert trainer.lr_at(25) == pytest.approx(PEAK * FLOOR)  # never below the floor
    rates = [trainer.lr_at(s) for s in range(3, 20)]
    assert all(a > b for a, b in zip(rates, rates[1:]))  # strictly decreasing after the warm-up


def test_cosine_follows_a_step_total_given_in_epochs(tiny_config, tiny_dataset, tmp_path):
    # 16 images / batch 4 = 4 steps per epoch; 3 epochs = 12 steps
    trainer = _trainer(tiny_config, tiny_dataset, tmp_path, lr_schedule="cosine", warmup_steps=0,
                       max_steps=None, epochs=3)
    assert trainer.total_steps == 12 and trainer.lr_at(11) == pytest.approx(PEAK * FLOOR)


def test_edges_of_the_rule_no_step_total_and_a_run_shorter_than_its_warm_up():
    config = TrainingConfig(lr=PEAK, warmup_steps=10, lr_schedule="cosine", lr_min_ratio=FLOOR)
    assert learning_rate(config, 500, None) == pytest.approx(PEAK)  # no step total: constant after warm-up
    assert learning_rate(config, 4, 8) == pytest.approx(PEAK * 5 / 10)  # S <= W: only the warm-up
    no_warmup = replace(config, warmup_steps=0)
    half_way = FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi / 2))
    assert learning_rate(no_warmup, 0, 2) == pytest.approx(PEAK * half_way)


def test_new_configs_default_to_cosine_and_round_trip_through_json(tiny_config):
    assert TrainingConfig().lr_schedule == "cosine"
    config = tiny_config(lr_schedule="cosine", lr_min_ratio=0.25)
    again = RunConfig.from_json(config.to_json())
    assert again == config and again.training.lr_schedule == "cosine" and again.training.lr_min_ratio == 0.25
    constant = tiny_config(lr_schedule="constant")
    assert RunConfig.from_json(constant.to_json()).training.lr_schedule == "constant"


@pytest.mark.parametrize("changes, needle", [
    ({"lr_schedule": "linear"}, "lr_schedule must be one of constant, cosine, got 'linear'"),
    ({"lr_min_ratio": 1.5}, "lr_min_ratio"),
    ({"lr_min_ratio": -0.1}, "lr_min_ratio"),
    ({"lr_min_ratio": float("nan")}, "lr_min_ratio"),
])
def test_bad_schedules_are_one_line_errors(changes, needle):
    with pytest.raises(ValueError, match=needle) as info:
        replace(TrainingConfig(), **changes).validate()
    assert "\n" not in str(info.value)


def test_a_config_written_before_schedules_loads_as_constant_and_resumes_constant(tiny_config, tiny_dataset,
                                                                                  tmp_path):
    config = tiny_config(lr_schedule="constant", max_steps=4, checkpoint_every_steps=2)
    run = create_run(config, root=tmp_path, name="old")
    Trainer(config, tiny_dataset, run, device="cpu").run(lambda event: None)
    old_style = json.loads((run.path / "config.json").read_text())
    del old_style["training"]["lr_schedule"], old_style["training"]["lr_min_ratio"]
    old_style["training"]["max_steps"] = 8
    (run.path / "config.json").write_text(json.dumps(old_style, indent=2))

    reopened = open_run(run.path)
    assert reopened.config.training.lr_schedule == "constant"
    resumed = Trainer.resume(reopened, tiny_dataset, device="cpu")
    events = []
    resumed.run(events.append)
    assert [e.lr for e in events if isinstance(e, StepEvent)] == pytest.approx([1e-3] * 4)  # no decay
    assert events[-1] == FinishedEvent(step=8, reason="completed")


def test_stop_and_resume_with_cosine_reproduces_the_uninterrupted_run(tiny_config, tiny_dataset, tmp_path):
    import torch

    config = tiny_config(lr_schedule="cosine", lr_min_ratio=FLOOR, max_steps=7, warmup_steps=1)
    straight = Trainer(config, tiny_dataset, create_run(config, root=tmp_path, name="straight"), device="cpu")
    straight_events = []
    straight.run(straight_events.append)

    run = create_run(config, root=tmp_path, name="interrupted")
    first = Trainer(config, tiny_dataset, run, device="cpu")
    first.run(lambda e: first.request_stop() if isinstance(e, StepEvent) and e.step == 3 else None)
    resumed = Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")
    resumed.run(lambda event: None)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    for key, value in straight.ema.state_dict().items():
        assert torch.equal(value, resumed.ema.state_dict()[key]), key
    lrs = [r["lr"] for r in open_run(run.path).history()]
    assert lrs == [e.lr for e in straight_events if isinstance(e, StepEvent)]
    assert lrs[-1] == pytest.approx(1e-3 * FLOOR) and lrs[1] > lrs[4]
