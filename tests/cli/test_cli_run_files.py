"""Issue 23 F1-F3, F7 from the command line: a damaged run folder is one line or skipped, never an internal
error; a `.lock` link or FIFO is refused, not followed or waited on; wrongly typed records do not block --resume."""

from __future__ import annotations

import json
import os

DEEP = "[" * 100_000 + "]" * 100_000


def _one_error(result, *fragments: str) -> None:
    assert result.code == 1, result.err
    assert len(result.err_lines) == 1 and result.err_lines[0].startswith("ddpm-studio: error: "), result.err
    for fragment in fragments:
        assert fragment in result.err_lines[0], result.err


def _deep_copy(tiny_run, name: str = "deep"):
    import shutil

    deep = tiny_run.parent / name
    shutil.copytree(tiny_run, deep)
    (deep / "config.json").write_text(DEEP)
    return deep


def test_runs_lists_the_others_and_names_the_deep_one(cli_here, tiny_run):
    _deep_copy(tiny_run)
    result = cli_here("runs", "--runs-dir", str(tiny_run.parent))
    assert result.code == 0, result.err
    assert "tiny" in result.out and "deep" not in result.out
    assert "skipping run deep: config.json cannot be used: " in result.err


def test_resuming_or_sampling_a_deep_run_is_one_line(cli_here, tiny_run, tmp_path):
    deep = _deep_copy(tiny_run)
    _one_error(cli_here("train", "--resume", str(deep), "--quiet"), "config.json cannot be used", "not valid JSON")
    resume_other = cli_here("train", "--resume", "tiny", "--runs-dir", str(tiny_run.parent), "--steps", "5",
                            "--quiet")
    assert resume_other.code == 0, resume_other.err


def test_a_lock_symlink_is_refused_and_its_target_kept(cli_here, tiny_run, tmp_path):
    victim = tmp_path / "notes.txt"
    victim.write_text("mine\n")
    (tiny_run / ".lock").symlink_to(victim)
    _one_error(cli_here("train", "--resume", str(tiny_run), "--steps", "5", "--quiet"), "symbolic link")
    assert victim.read_text() == "mine\n"


def test_a_lock_fifo_is_refused_not_waited_on(cli, tiny_run):
    os.mkfifo(tiny_run / ".lock")
    result = cli("train", "--resume", str(tiny_run), "--steps", "5", "--quiet", timeout=300)
    _one_error(result, "its .lock is not a regular file")


def test_wrongly_typed_records_do_not_block_a_resume(cli_here, tiny_run):
    with open(tiny_run / "history.jsonl", "a") as f:
        f.write(json.dumps({"step": "x", "loss": 1.0}) + "\n")
    (tiny_run / "best.json").write_text(json.dumps({"step": 2, "metric": "swd", "value": "abc"}))
    (tiny_run / "metrics.jsonl").write_text(json.dumps({"kind": "ema", "step": "x", "metrics": {"swd": 1}}) + "\n")
    result = cli_here("train", "--resume", str(tiny_run), "--steps", "5", "--quiet")
    assert result.code == 0, result.err
    assert "history.jsonl" in result.err  # the skipped record is mentioned, naming the file


def test_runs_shortens_a_long_data_source(cli_here, tiny_run):
    config = json.loads((tiny_run / "config.json").read_text())
    config["data"]["source"] = "/data/" + "s" * 900_000  # under the 1 MB cap of config.json
    (tiny_run / "config.json").write_text(json.dumps(config))
    result = cli_here("runs", "--runs-dir", str(tiny_run.parent))
    assert result.code == 0, result.err
    assert max(len(line) for line in result.out.splitlines()) < 300
