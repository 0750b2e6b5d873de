"""Issue 23 F7, F8 in the GUI: a run with wrongly typed records opens whole (the bad records skipped); a run whose
config.json holds a 300-digit planned_steps is refused in one line, not an OverflowError."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pytestqt")


from ddpm_studio.training.runs import create_run
from ddpm_studio.training.trainer import Trainer


@pytest.fixture
def trained_run(tmp_path):
    from ddpm_studio.data.dataset import load_dataset
    from tests.training.conftest import tiny_config

    run = create_run(tiny_config(max_steps=4, checkpoint_every_steps=2), root=tmp_path / "runs", name="r")
    Trainer(run.config, load_dataset(run.config.data), run, device="cpu").run(lambda event: None)
    return run


def test_a_run_with_wrongly_typed_records_opens_whole(panel, trained_run):
    with open(trained_run.history_path, "a") as f:
        f.write(json.dumps({"step": "x", "loss": "abc"}) + "\n")
    (trained_run.path / "best.json").write_text(json.dumps({"step": 2, "value": "abc"}))
    (trained_run.path / "metrics.jsonl").write_text(json.dumps({"kind": "ema", "step": "x", "metrics": {}}) + "\n")
    assert panel.open_run(trained_run.path)
    assert panel.error_label.isHidden()


def test_a_300_digit_planned_steps_is_refused_in_one_line(panel, trained_run):
    config = json.loads((trained_run.path / "config.json").read_text())
    config["training"]["planned_steps"] = 10**300
    (trained_run.path / "config.json").write_text(json.dumps(config))
    assert not panel.open_run(trained_run.path)
    assert "training: planned_steps must be an integer" in panel.error_label.text()
