"""Issue 21: the Trainer's own figures reach the faces (the overhead notice reads them), and the standard
scalars (learning rate, gradient norm before clipping, images seen) are logged per step; old histories load."""

from __future__ import annotations

import json
import logging
import re

import pytest

from ddpm_studio.gui.training.stats import overhead_notice
from ddpm_studio.training import Trainer, create_run
from ddpm_studio.training.events import StepEvent
from ddpm_studio.training.runs import read_history


def test_step_events_carry_the_trainers_overhead_and_the_notice_says_the_logged_figures(
        tmp_path, tiny_config, tiny_dataset, caplog):
    config = tiny_config(max_steps=6, preview_every_steps=1, metrics_time_share=0.0, checkpoint_every_steps=100)
    run = create_run(config, root=tmp_path)
    trainer = Trainer(config, tiny_dataset, run, device="cpu")
    steps: list[StepEvent] = []
    with caplog.at_level(logging.INFO, logger="ddpm_studio.training.trainer"):
        trainer.run(lambda e: steps.append(e) if isinstance(e, StepEvent) else None)
    last = steps[-1]
    assert last.overhead_s is not None and last.session_s == pytest.approx(last.elapsed_s)
    # every preview but the last one (after the last step) is in the last event's count
    assert 0 < last.overhead_s["preview"] <= trainer.overhead_s["preview"]
    # the Trainer's log line and the notice agree when given the same figures (the end-of-run accounting)
    logged = re.search(r"previews ([\d.]+) %", caplog.text)
    assert logged is not None
    session = trainer.elapsed_s
    shares = {k: v / session for k, v in trainer.overhead_s.items()}
    text = overhead_notice(shares, 0.0)
    assert text is not None and f"previews {float(logged.group(1)) / 100:.1%}" in text


def test_history_logs_lr_grad_norm_and_images_and_old_lines_still_load(tmp_path, tiny_config, tiny_dataset):
    config = tiny_config(max_steps=3, grad_clip=1.0)
    run = create_run(config, root=tmp_path)
    Trainer(config, tiny_dataset, run, device="cpu").run(lambda e: None)
    records = read_history(run.history_path)
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(r["grad_norm"] > 0 and r["lr"] > 0 for r in records)
    assert [r["images"] for r in records] == [4, 8, 12]
    with open(run.history_path, "a") as f:  # a line of an older run: no grad_norm, no images
        f.write(json.dumps({"step": 4, "epoch": 1, "loss": 0.5, "lr": 1e-3, "time": 1.0}) + "\n")
    assert read_history(run.history_path)[-1]["step"] == 4


def test_no_grad_norm_when_clipping_is_off(tmp_path, tiny_config, tiny_dataset):
    config = tiny_config(max_steps=2, grad_clip=0.0)
    run = create_run(config, root=tmp_path)
    Trainer(config, tiny_dataset, run, device="cpu").run(lambda e: None)
    assert all("grad_norm" not in r for r in read_history(run.history_path))
