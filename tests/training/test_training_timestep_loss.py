"""Loss by timestep stored with the run: the file's round trip, damaged or missing files, accumulation on resume."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from ddpm_studio.training.events import StepEvent, TimestepLossEvent
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.timestep_loss import TimestepLossRecord, TimestepLossTracker
from ddpm_studio.training.trainer import Trainer


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b))


def test_record_round_trips_through_json_with_unseen_buckets_as_null():
    tracker = TimestepLossTracker(20, buckets=4)
    tracker.update(torch.tensor([0, 1, 12]), torch.tensor([0.5, 0.7, 0.1]))  # buckets 0 and 2 only
    record = tracker.record(step=7)
    assert record.counts == (2, 0, 1, 0) and math.isnan(record.means[1])
    text = record.to_json()
    assert json.loads(text)["means"][1] is None  # strict JSON: no NaN literal
    again = TimestepLossRecord.from_json(text)
    assert again.step == 7 and again.edges == (0, 5, 10, 15, 20) and again.counts == record.counts
    assert _same(again.means, record.means)
    fresh = TimestepLossTracker(20, buckets=4)
    fresh.restore(again)
    assert _same(fresh.means(), tracker.means())
    with pytest.raises(ValueError, match="differ"):
        TimestepLossTracker(40, buckets=4).restore(again)


@pytest.mark.parametrize("text, needle", [
    ("{torn", "not valid JSON"),
    ('{"format": "something else"}', "not a loss-by-timestep record"),
    ('{"format": "ddpm-studio.timestep-loss/1", "step": 3, "edges": [0, 10, 20]}', "lacks 'means'"),
    ('{"format": "ddpm-studio.timestep-loss/1", "step": 3, "edges": [0, 10, 20], "means": [1.0], "counts": [1]}',
     "do not fit"),
    ('{"format": "ddpm-studio.timestep-loss/1", "step": 3, "edges": [0, 20], "means": ["x"], "counts": [1]}',
     "malformed"),
])
def test_damaged_records_are_one_line_errors(text, needle):
    with pytest.raises(ValueError, match=needle) as info:
        TimestepLossRecord.from_json(text)
    assert "\n" not in str(info.value)


def test_training_stores_the_tracker_and_a_reopened_run_reads_it(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(max_steps=10)
    run = create_run(config, root=tmp_path, name="stored")
    assert run.timestep_loss() is None  # nothing flushed yet: no file, no error
    trainer = Trainer(config, tiny_dataset, run, device="cpu")
    events = []
    trainer.run(events.append)
    record = open_run(run.path).timestep_loss()
    assert record is not None and record.step == 10 and record.edges[0] == 0 and record.edges[-1] == 20
    assert sum(record.counts) == 10 * 4  # every sample of every step, batch 4
    assert _same(record.means, trainer.recorder.tracker.means())
    last_event = [e for e in events if isinstance(e, TimestepLossEvent)][-1]
    assert _same(record.means, last_event.bucket_losses)  # what the live plot showed last (step 10)


def test_a_damaged_file_falls_back_clearly_and_loses_nothing_else(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(max_steps=4, checkpoint_every_steps=2)
    run = create_run(config, root=tmp_path, name="damaged")
    Trainer(config, tiny_dataset, run, device="cpu").run(lambda event: None)
    run.timestep_loss_path.write_text('{"format": "ddpm-studio.timestep-loss/1", "st', encoding="utf-8")
    reopened = open_run(run.path)  # the run itself opens
    with pytest.raises(ValueError, match="timestep_loss.json is damaged") as info:
        reopened.timestep_loss()
    assert "\n" not in str(info.value)
    assert [r["step"] for r in reopened.history()] == [1, 2, 3, 4] and reopened.latest_checkpoint() is not None

    reopened.save_config(replace(reopened.config, training=replace(reopened.config.training, max_steps=6)))
    resumed = Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")  # starts the buckets afresh
    resumed.run(lambda event: None)
    record = open_run(run.path).timestep_loss()
    assert record is not None and record.step == 6 and sum(record.counts) == 2 * 4  # the file is whole again


def test_resume_keeps_accumulating_the_stored_buckets(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(max_steps=8)
    run = create_run(config, root=tmp_path, name="resumed")
    first = Trainer(config, tiny_dataset, run, device="cpu")
    first.run(lambda e: first.request_stop() if isinstance(e, StepEvent) and e.step == 3 else None)
    stored = open_run(run.path).timestep_loss()
    assert stored is not None and stored.step == 3 and sum(stored.counts) == 3 * 4
    resumed = Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")
    assert _same(resumed.recorder.tracker.means(), stored.means)
    resumed.run(lambda event: None)
    record = open_run(run.path).timestep_loss()
    assert record.step == 8 and sum(record.counts) == 8 * 4
