"""Run folders: creation, reopening, listing, history, and where they live."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ddpm_studio.training.runs import RunError, create_run, list_runs, open_run, remove_unused_run, runs_root
from ddpm_studio.training.trainer import Trainer


def test_runs_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DDPM_STUDIO_HOME", str(tmp_path / "home"))
    assert runs_root() == tmp_path / "home" / "runs"


def test_create_and_open_run(tiny_config, tmp_path):
    config = tiny_config()
    run = create_run(config, root=tmp_path, name="my run/1")
    assert run.path == tmp_path / "my-run-1"
    assert (run.path / "checkpoints").is_dir() and (run.path / "previews").is_dir()
    assert open_run(run.path).config == config
    assert open_run("my-run-1", root=tmp_path).path == run.path  # by name under the root
    again = create_run(config, root=tmp_path, name="my run/1")
    assert again.path.name == "my-run-1-2"  # never overwrites an existing run
    default = create_run(config, root=tmp_path)
    assert default.path.name.endswith("shapes-8px")


def test_create_run_under_the_default_root(tiny_config):
    run = create_run(tiny_config(), name="here")  # conftest points DDPM_STUDIO_HOME at a temporary folder
    assert run.path == runs_root() / "here"
    assert runs_root() == Path(os.environ["DDPM_STUDIO_HOME"]) / "runs"


def test_open_run_errors(tiny_config, tmp_path):
    with pytest.raises(RunError, match="not a run folder"):
        open_run(tmp_path / "nothing")
    run = create_run(tiny_config(), root=tmp_path, name="broken")
    (run.path / "config.json").write_text("{ torn")
    with pytest.raises(RunError, match="not valid JSON"):
        open_run(run.path)


def test_history_truncation_and_torn_lines(tiny_config, tmp_path):
    run = create_run(tiny_config(), root=tmp_path, name="h")
    lines = [json.dumps({"step": s, "loss": 1.0 / s}) for s in range(1, 6)]
    run.history_path.write_text("\n".join(lines) + '\n{"step": 6, "lo')  # crash mid-append
    assert [r["step"] for r in run.history()] == [1, 2, 3, 4, 5]
    run.truncate_history(3)
    assert [r["step"] for r in run.history()] == [1, 2, 3]


def test_list_runs_reports_step_loss_and_date(tiny_config, tiny_dataset, tmp_path):
    from ddpm_studio.training.trainer import Trainer

    config = tiny_config(max_steps=2)
    run = create_run(config, root=tmp_path, name="a")
    Trainer(config, tiny_dataset, run, device="cpu").run(lambda event: None)
    create_run(config, root=tmp_path, name="b")
    (tmp_path / "not-a-run").mkdir()
    infos = {i.name: i for i in list_runs(tmp_path)}
    assert set(infos) == {"a", "b"}
    assert infos["a"].step == 2 and infos["a"].last_loss == pytest.approx(run.history()[-1]["loss"])
    assert infos["b"].step == 0 and infos["b"].last_loss is None
    assert infos["a"].source == "builtin:shapes?n=16" and infos["a"].image_size == 8
    assert list_runs(tmp_path / "missing") == []


def test_last_history_record_reads_only_the_tail_and_skips_a_torn_line(tmp_path):
    from ddpm_studio.training.runs import last_history_record

    path = tmp_path / "history.jsonl"
    lines = [json.dumps({"step": i, "loss": 1.0 / (i + 1)}) for i in range(5000)]
    path.write_text("\n".join(lines) + '\n{"step": 5000, "lo', encoding="utf-8")  # torn last line
    assert last_history_record(path, tail_bytes=512) == {"step": 4999, "loss": 1.0 / 5000}
    assert last_history_record(tmp_path / "missing.jsonl") is None
    path.write_text("x" * 2000, encoding="utf-8")  # nothing readable at all
    assert last_history_record(path, tail_bytes=512) is None


def test_list_runs_skips_an_unreadable_run(tmp_path, caplog):
    from ddpm_studio.training.runs import list_runs

    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "config.json").write_text("{not json", encoding="utf-8")
    assert list_runs(tmp_path) == []
    assert "broken" in caplog.text


def test_runs_list_shows_the_loss_of_the_checkpointed_step(tiny_config, tiny_dataset, tmp_path):
    """Issue 14 item 21: steps recorded after the last checkpoint (a crash) must not lend it their loss."""
    run = create_run(tiny_config(max_steps=4), root=tmp_path, name="crashed")
    Trainer(run.config, tiny_dataset, run, device="cpu").run(lambda event: None)
    checkpointed = {r["step"]: r["loss"] for r in run.history()}[4]
    with open(run.history_path, "a", encoding="utf-8") as f:  # steps 5, 6 trained, then killed before a save
        f.write(json.dumps({"step": 5, "loss": 123.0}) + "\n" + json.dumps({"step": 6, "loss": 456.0}) + "\n")
    (info,) = list_runs(tmp_path)
    assert info.step == 4 and info.last_loss == checkpointed


def test_an_unused_run_folder_can_be_removed_so_its_name_is_free(tiny_config, tiny_dataset, tmp_path):
    """Issue 14 item 17 (the runs side): a run whose data failed to load leaves no folder and frees its name."""
    unused = create_run(tiny_config(), root=tmp_path, name="try")
    assert remove_unused_run(unused) and not unused.path.exists()
    again = create_run(tiny_config(max_steps=1), root=tmp_path, name="try")
    assert again.path.name == "try"
    Trainer(again.config, tiny_dataset, again, device="cpu").run(lambda event: None)
    assert not remove_unused_run(again) and again.latest_checkpoint() is not None  # a trained run is kept
