"""`ddpm-studio runs` with the Runs tab's columns (app/run_table.py) and --json; `train --tensorboard`."""

from __future__ import annotations

import json
import shutil

from ddpm_studio.training.recorder import RunRecorder
from ddpm_studio.training.runs import open_run


def _failed_copy(tiny_run, name="broken"):
    copy = tiny_run.parent / name
    shutil.copytree(tiny_run, copy)
    RunRecorder(open_run(copy), 10).finish("failed", 4, "oom", "out of memory on cpu with batch size 4")
    return copy


def test_runs_shows_state_minutes_preset_and_best_with_its_protocol(cli_here, tiny_run):
    _failed_copy(tiny_run)
    (tiny_run / "best.json").write_text(json.dumps({"step": 4, "metric": "swd", "value": 12.34,
                                                    "checkpoint": "step_00000004.safetensors"}))
    result = cli_here("runs", "--runs-dir", str(tiny_run.parent))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split()[:9] == ["NAME", "STEP", "LOSS", "DATE", "STATE", "MIN", "PRESET", "OBJ", "CLASSES"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["tiny"].split()[1] == "4" and " done " in rows["tiny"] and " tiny " in rows["tiny"]
    assert "SWD×10³ 12.3 @ 4" in rows["tiny"] and "[64 samples · DPM-Solver++(2M) 10 · vs 256 real]" in rows["tiny"]
    assert " failed " in rows["broken"] and rows["broken"].split()[5] != "-"  # its minutes


def test_runs_json_is_the_same_rows(cli_here, tiny_run):
    _failed_copy(tiny_run)
    result = cli_here("runs", "--runs-dir", str(tiny_run.parent), "--json")
    assert result.code == 0, result.err
    listing = json.loads(result.out)
    by_name = {run["name"]: run for run in listing["runs"]}
    assert by_name["tiny"]["state"] == "done" and by_name["tiny"]["step"] == 4 and by_name["tiny"]["best"] is None
    assert by_name["broken"]["state"] == "failed" and by_name["broken"]["state_detail"].startswith("oom: ")
    assert by_name["tiny"]["image_size"] == 8
    assert by_name["tiny"]["objective"] == open_run(tiny_run).config.diffusion.objective
    assert listing["skipped"] == [] and listing["runs_dir"] == str(tiny_run.parent)


def test_runs_json_with_no_runs_is_an_empty_list(cli_here, tmp_path):
    result = cli_here("runs", "--runs-dir", str(tmp_path / "none"), "--json")
    assert result.code == 0 and json.loads(result.out)["runs"] == []


def test_train_tensorboard_without_the_package_is_one_line_naming_the_extra(cli_here, tiny_run, tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr("ddpm_studio.training.tensorboard_log.tensorboard_available", lambda: False)
    result = cli_here("train", "--data", "builtin:shapes?n=8", "--size", "8", "--steps", "2", "--quiet",
                      "--runs-dir", str(tmp_path / "new"), "--tensorboard", str(tmp_path / "tb"))
    assert result.code == 1  # a user error
    assert result.err.strip().endswith("pip install 'ddpm-studio[tensorboard]'") and len(result.err_lines) == 1
    assert not (tmp_path / "new").exists() and not (tmp_path / "tb").exists()  # nothing made before the refusal


def test_a_resume_may_log_to_tensorboard(cli_here, tiny_run, tmp_path):
    result = cli_here("train", "--resume", str(tiny_run), "--steps", "5", "--quiet",
                      "--tensorboard", str(tmp_path / "tb"))
    assert result.code == 0, result.err
    assert list((tmp_path / "tb" / "tiny").glob("events.out.tfevents.*"))
