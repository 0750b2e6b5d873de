"""The runs table (app/run_table.py) on real run folders made by short real training runs: each state, the
columns, the best score with its protocol, the curves on every x axis, the config diff."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from ddpm_studio.app.run_table import (
    RUN_STATES,
    compare_runs,
    config_diff,
    ema_smoothed,
    preset_name,
    run_curves,
    run_row,
    run_rows,
)
from ddpm_studio.engine import UNET_PRESETS
from ddpm_studio.training.recorder import OUTCOME_STATES
from ddpm_studio.training.run_lock import RunLock, is_locked
from ddpm_studio.training.runs import OUTCOME_FILE, open_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory, train_tiny_run):
    """done (scored every 2 steps), stopped at step 2 of 6 (another objective and lr), failed (diverged)."""
    root = tmp_path_factory.mktemp("runs")
    train_tiny_run(root, "done", steps=4, metrics_every=2)
    train_tiny_run(root, "stopped", steps=6, lr=2e-3, objective="v", stop_at=2)
    train_tiny_run(root, "diverged", steps=6, lr=1e30, warmup=0, grad_clip=0.0)
    return root


def _copy(runs, name, tmp_path):
    target = tmp_path / "copies" / name
    shutil.copytree(runs / name, target)
    return target


def test_each_state_from_the_runs_own_files(runs):
    rows = {row.name: row for row in run_rows(runs).rows}
    assert {name: row.state for name, row in rows.items()} == {"done": "done", "stopped": "stopped",
                                                               "diverged": "failed"}
    assert rows["diverged"].state_detail.startswith("nan: ") and "lower learning rate" in rows["diverged"].state_detail
    assert rows["stopped"].step == 2 and rows["done"].step == 4
    assert set(RUN_STATES) == {"running", *OUTCOME_STATES}


def test_a_run_whose_lock_is_held_is_running(runs, tmp_path):
    path = _copy(runs, "stopped", tmp_path)
    assert not is_locked(path)  # the copied .lock names a holder whose lock is gone
    with RunLock(path):
        assert is_locked(path)
        assert run_row(open_run(path)).state == "running"
    assert not is_locked(path) and run_row(open_run(path)).state == "stopped"
    assert not is_locked(tmp_path)  # no .lock at all: never created by the probe
    assert not (tmp_path / ".lock").exists()


def test_without_outcome_json_the_state_is_inferred(runs, tmp_path):
    done, stopped = _copy(runs, "done", tmp_path), _copy(runs, "stopped", tmp_path)
    for path in (done, stopped):
        (path / OUTCOME_FILE).unlink()
    assert run_row(open_run(done)).state == "done"  # at its max_steps
    assert run_row(open_run(stopped)).state == "stopped"  # before them
    with open(stopped / "history.jsonl", "a") as f:  # steps after the checkpoint: killed before it could save
        f.write(json.dumps({"step": 3, "epoch": 2, "loss": 0.5, "lr": 1e-3, "time": 9.0, "wall": 1.0}) + "\n")
    state = run_row(open_run(stopped))
    assert state.state == "failed" and "killed or crashed" in state.state_detail
    with open(done / "history.jsonl", "a") as f:
        f.write(json.dumps({"step": 4, "epoch": 2, "loss": math.nan, "lr": 1e-3, "time": 9.0, "wall": 1.0}) + "\n")
    assert run_row(open_run(done)).state == "failed"  # its last loss is not finite


def test_an_unusable_outcome_json_is_ignored_with_a_warning(runs, tmp_path, caplog):
    path = _copy(runs, "stopped", tmp_path)
    (path / OUTCOME_FILE).write_text('{"state": "exploded", "step": 2}')
    assert run_row(open_run(path)).state == "stopped"
    assert "outcome.json is not used" in caplog.text


def test_the_columns_of_a_row(runs):
    row = run_row(open_run(runs / "done"))
    assert (row.data, row.image_size, row.channels, row.preset, row.objective) == (
        "builtin:shapes?n=8", 8, 3, "custom", "eps")  # the tiny preset with other levels: custom
    assert row.classes == ("circle", "square", "triangle") and row.conditional == "3 classes"
    history = open_run(runs / "done").history()
    assert row.minutes == pytest.approx(history[-1]["time"] / 60) and row.loss == history[-1]["loss"]
    assert row.total_steps == 4
    assert preset_name(UNET_PRESETS["tiny"].replace(base_channels=8, num_classes=3)) == "tiny"  # width, classes: free
    assert preset_name(UNET_PRESETS["tiny"].replace(attention_heads=7)) == "custom"


def test_the_best_score_carries_its_protocol(runs, tmp_path):
    row = run_row(open_run(runs / "done"))
    best = json.loads((runs / "done" / "best.json").read_text())
    assert (row.best_metric, row.best_value, row.best_step) == ("swd", best["value"], best["step"])
    assert row.best_text == f"SWD×10³ {best['value']:.1f} @ {best['step']}"
    # the protocol stored with the scores: a conditional run's samples ask for its data's classes
    assert row.protocol == "8 samples · DPM-Solver++(2M) 2 · classes as in the data · vs 8 real"
    assert run_row(open_run(runs / "stopped")).best_value is None  # never scored: no number, no protocol
    assert run_row(open_run(runs / "stopped")).protocol == ""
    path = _copy(runs, "done", tmp_path)
    (path / "best.json").write_text(json.dumps({**best, "protocol": "64 samples vs 256 (stated by the writer)"}))
    assert run_row(open_run(path)).protocol == "64 samples vs 256 (stated by the writer)"


def test_rows_are_newest_first_and_sort_keys_are_numbers(runs):
    table = run_rows(runs)
    assert [r.modified for r in table.rows] == sorted((r.modified for r in table.rows), reverse=True)
    assert table.skipped == ()
    as_json = json.loads(json.dumps([r.to_json() for r in table.rows]))
    done = next(r for r in as_json if r["name"] == "done")
    assert done["best"]["metric"] == "swd" and done["state"] == "done" and done["classes"] == ["circle", "square",
                                                                                             "triangle"]


def test_curves_on_every_x_axis(runs):
    run = open_run(runs / "done")
    curves = run_curves(run)
    history = run.history()
    assert {"loss", "lr"} <= set(curves.scalars) and "time" not in curves.scalars
    assert curves.x("step").tolist() == [r["step"] for r in history]
    assert np.allclose(curves.x("time"), [r["time"] / 60 for r in history])
    assert curves.x("images").tolist() == [4.0 * r["step"] for r in history]  # batch size 4
    assert np.allclose(curves.x("wall"), [(r["wall"] - history[0]["wall"]) / 60 for r in history])
    assert len(curves.x("wall", quality=True)) == 2 and np.all(np.diff(curves.x("wall", quality=True)) >= 0)
    assert curves.quality_step.tolist() == [2.0, 4.0] and len(curves.quality["swd"]) == 2
    assert curves.x("images", quality=True).tolist() == [8.0, 16.0] and "swd" in curves.floor
    assert curves.protocol == "8 samples · DPM-Solver++(2M) 2 · classes as in the data · vs 8 real"
    assert set(curves.smoothed) == set(curves.scalars) - {"lr"}  # the schedule is drawn as it is
    assert curves.smoothed["loss"].tolist() == pytest.approx(ema_smoothed(curves.scalars["loss"]).tolist())
    with pytest.raises(ValueError, match="x axis must be one of"):
        curves.x("epoch")
    halved = run_curves(run, max_points=2)  # 4 records in blocks of 2
    assert halved.scalars["loss"].tolist() == pytest.approx([np.mean(curves.scalars["loss"][:2]),
                                                             np.mean(curves.scalars["loss"][2:])])


def test_smoothing_is_the_debiased_ema():
    assert ema_smoothed(np.array([2.0, 4.0]), 0.5).tolist() == pytest.approx([2.0, (0.25 * 2 + 0.5 * 4) / 0.75])
    assert ema_smoothed(np.array([1.0, math.nan, 1.0]), 0.9).tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_config_diff_lists_only_the_differing_keys(runs):
    done, stopped = open_run(runs / "done").config, open_run(runs / "stopped").config
    diff = {d.key: (d.left, d.right) for d in config_diff(done, stopped)}
    assert diff == {"diffusion.objective": ("eps", "v"), "training.lr": (1e-3, 2e-3), "training.max_steps": (4, 6),
                    "training.metrics_every_steps": (2, 0)}
    assert config_diff(done, done) == []


def test_compare_runs_shows_the_readable_runs_and_names_the_others(runs, tmp_path):
    comparison = compare_runs([runs / "done", tmp_path / "gone", runs / "stopped"])
    assert [c.name for c in comparison.curves] == ["done", "stopped"]
    assert comparison.pair == ("done", "stopped") and len(comparison.differences) == 4
    assert len(comparison.problems) == 1 and comparison.problems[0].startswith("gone: ")
    three = compare_runs([runs / "done", runs / "stopped", runs / "diverged"])
    assert len(three.curves) == 3 and three.pair is None and three.differences == ()


def test_a_run_another_process_trains_is_running(runs, tmp_path):
    import subprocess
    import sys

    path = _copy(runs, "done", tmp_path)
    code = ("import sys; from ddpm_studio.training.run_lock import RunLock; lock = RunLock(sys.argv[1]).acquire();"
            " print('held', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert is_locked(path) and run_row(open_run(path)).state == "running"
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert not is_locked(path) and run_row(open_run(path)).state == "done"  # its holder is gone
