"""Issue 23 F1, F5, F7: no file inside one run stops the listing of the others or a resume; run files are
capped before they are read; a wrongly typed record is skipped with a warning naming its file."""

from __future__ import annotations

import json
import logging
import os

import pytest

from ddpm_studio.training.quality_monitor import QualityMonitor, read_best, read_metrics
from ddpm_studio.training.run_files import MAX_RUN_FILE_BYTES
from ddpm_studio.training.runs import RunError, create_run, list_runs, open_run, scan_runs
from ddpm_studio.training.trainer import Trainer

DEEP = "[" * 100_000 + "]" * 100_000


def _runs(tmp_path, tiny_config):
    root = tmp_path / "runs"
    good = create_run(tiny_config(), root=root, name="good")
    bad = create_run(tiny_config(), root=root, name="deep")
    return root, good, bad


def test_a_deeply_nested_config_skips_that_run_alone(tmp_path, tiny_config, caplog):
    root, good, bad = _runs(tmp_path, tiny_config)
    (bad.path / "config.json").write_text(DEEP)
    listing = scan_runs(root)
    assert [info.name for info in listing.runs] == ["good"]
    assert len(listing.skipped) == 1 and listing.skipped[0].startswith("deep: config.json cannot be used: ")
    assert [info.name for info in list_runs(root)] == ["good"]
    with pytest.raises(RunError, match="config.json cannot be used: .*not valid JSON"):
        open_run(bad.path)


def test_a_huge_config_is_refused_before_it_is_read(tmp_path, tiny_config):
    root, good, bad = _runs(tmp_path, tiny_config)
    with open(bad.path / "config.json", "r+b") as f:
        f.truncate(2**30)  # a 1 GB sparse file: reading it whole took 2.3 GB
    with pytest.raises(RunError, match=r"config.json is too large \(1,073,741,824 bytes"):
        open_run(bad.path)
    assert [info.name for info in list_runs(root)] == ["good"]


def test_a_config_just_under_the_cap_still_loads(tmp_path, tiny_config):
    run = create_run(tiny_config(), root=tmp_path, name="r")
    text = (run.path / "config.json").read_text()
    (run.path / "config.json").write_text(text + " " * (MAX_RUN_FILE_BYTES - len(text) - 1))
    assert open_run(run.path).config == run.config


def test_fifos_inside_a_run_never_block_a_reader(tmp_path, tiny_config):
    run = create_run(tiny_config(), root=tmp_path, name="r")
    for name in ("timestep_loss.json", "best.json", "history.jsonl", "metrics.jsonl"):
        os.mkfifo(run.path / name)
    with pytest.raises(ValueError, match="timestep_loss.json cannot be read: timestep_loss.json is not a regular"):
        open_run(run.path).timestep_loss()
    assert read_best(run.path) is None
    assert open_run(run.path).history() == []
    assert read_metrics(run.path).points == ()
    assert [info.name for info in list_runs(tmp_path)] == ["r"]


@pytest.mark.parametrize("record", [{"step": "x", "loss": 1.0}, {"step": 1, "loss": "abc"}, {"loss": 1.0}])
def test_a_wrongly_typed_history_record_is_skipped_with_a_warning(tmp_path, tiny_config, caplog, record):
    run = create_run(tiny_config(), root=tmp_path, name="r")
    lines = [{"step": 1, "loss": 0.5}, record, {"step": 2, "loss": 0.4}]
    run.history_path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    with caplog.at_level(logging.WARNING):
        assert [r["step"] for r in run.history()] == [1, 2]
    assert any(str(run.history_path) in r.getMessage() for r in caplog.records)
    run.truncate_history(1)
    assert [r["step"] for r in run.history()] == [1]


def test_wrongly_typed_metrics_and_best_records_are_skipped(tmp_path, tiny_config, tiny_dataset, caplog):
    run = create_run(tiny_config(), root=tmp_path, name="r")
    (run.path / "best.json").write_text(json.dumps({"step": 2, "metric": "swd", "value": "abc"}))
    (run.path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"kind": "ema", "step": "x", "metrics": {"swd": 1.0}},
        {"kind": "ema", "step": 3, "metrics": {"swd": "abc"}},
        {"kind": "ema", "step": 4, "metrics": {"swd": 2.0}, "time": 1.0},
    ]) + "\n")
    with caplog.at_level(logging.WARNING):
        assert read_best(run.path) is None
        assert [p.step for p in read_metrics(run.path).points] == [4]
    assert any("best.json" in r.getMessage() for r in caplog.records)
    assert any("metrics.jsonl" in r.getMessage() for r in caplog.records)
    monitor = QualityMonitor(run.config, tiny_dataset, run.path)
    assert monitor.best_step is None
    monitor.restart(3, 0.0)  # compared "x" <= 3: TypeError


def test_a_run_with_wrongly_typed_records_resumes(tmp_path, tiny_config, tiny_dataset):
    run = create_run(tiny_config(max_steps=2, checkpoint_every_steps=2), root=tmp_path, name="r")
    Trainer(run.config, tiny_dataset, run, device="cpu").run(lambda event: None)
    with open(run.history_path, "a") as f:
        f.write(json.dumps({"step": "x", "loss": 1.0}) + "\n")
    (run.path / "best.json").write_text(json.dumps({"step": 2, "value": "abc"}))
    (run.path / "metrics.jsonl").write_text(json.dumps({"kind": "ema", "step": "x", "metrics": {}}) + "\n")
    trainer = Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")
    assert trainer.step == 2
    trainer.release_lock()
