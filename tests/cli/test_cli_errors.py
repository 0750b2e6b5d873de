"""Issue 14, the command line's side: every user or resource error is one line on stderr, never a traceback;
the log file keeps the traceback; a bug says "internal error" and where the details are.

Most checks run `python -m ddpm_studio` in a subprocess (what a terminal would show, torch's and Pillow's
warnings included); a few quick ones call the entry point in-process.
"""

from __future__ import annotations

import json
import pickle
import resource
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_studio.training.devices import cuda_available

TINY = ["--size", "8", "--preset", "tiny", "--base-channels", "8", "--timesteps", "10", "--schedule", "linear",
        "--batch-size", "4", "--threads", "1", "--preview-every", "0", "--quiet"]  # as conftest's tiny run
CUDA_MISSING = "ddpm-studio: error: CUDA was requested but no CUDA device is available; use --device cpu"
BOGUS_DEVICE = "ddpm-studio: error: unknown device 'bogus'; use auto, cpu, cuda, cuda:N or mps"


def _no_traceback(result) -> None:
    assert "Traceback" not in result.err and "Traceback" not in result.out
    assert "Warning" not in result.err  # no UserWarning / DecompressionBombWarning leaks either


def _images(folder: Path, good: int, bad: int = 0) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(good):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"ok{i:02d}.png")
    for i in range(bad):
        (folder / f"bad{i:02d}.png").write_bytes(b"not an image at all")
    return folder


def _limit_memory() -> None:  # a small address space: the allocation fails at once, the machine is spared
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


# ---- 8: devices -------------------------------------------------------------------------------------------

@pytest.mark.skipif(cuda_available(), reason="needs a torch without a usable CUDA device")
def test_a_cuda_device_without_cuda_is_one_line_for_sample_and_train(cli_here, tmp_path, tiny_run):
    runs = str(tiny_run.parent)
    sample = cli_here("sample", "tiny", "--runs-dir", runs, "--device", "cuda", "--count", "1", "--steps", "2",
                 "--out", str(tmp_path / "o"), "--quiet")
    train = cli_here("train", "--data", "builtin:shapes?n=8", *TINY, "--steps", "1", "--device", "cuda",
                     "--name", "gpu", "--runs-dir", runs)
    config_before = (tiny_run / "config.json").read_text()
    resume = cli_here("train", "--resume", "tiny", "--runs-dir", runs, "--device", "cuda", "--quiet")
    for result in (sample, train, resume):
        _no_traceback(result)
        assert (result.code, result.err_lines) == (1, [CUDA_MISSING])
    assert not (tiny_run.parent / "gpu").exists()  # refused before a run folder is made
    assert (tiny_run / "config.json").read_text() == config_before  # nor is the resumed run's config rewritten


def test_an_unknown_device_is_one_line_for_sample_and_train(cli_here, tmp_path, tiny_run):
    runs = str(tiny_run.parent)
    sample = cli_here("sample", "tiny", "--runs-dir", runs, "--device", "bogus", "--count", "1", "--out",
                 str(tmp_path / "o"), "--quiet")
    train = cli_here("train", "--data", "builtin:shapes?n=8", *TINY, "--steps", "1", "--device", "bogus",
                "--name", "bogus", "--runs-dir", runs)
    for result in (sample, train):
        _no_traceback(result)
        assert (result.code, result.err_lines) == (1, [BOGUS_DEVICE])
    assert not (tiny_run.parent / "bogus").exists()


# ---- 9: memory ----------------------------------------------------------------------------------------------

def test_running_out_of_memory_is_one_line_with_advice(cli, tmp_path):
    noise = cli("noise", "builtin:shapes?n=2", "--size", "100000", "--rows", "1", "--out", str(tmp_path / "n.png"),
                preexec_fn=_limit_memory)
    _no_traceback(noise)
    assert (noise.code, noise.err_lines) == (1, ["ddpm-studio: error: out of memory; try a smaller --size or "
                                                 "fewer --rows"])
    train = cli("train", "--data", "builtin:shapes?n=4", *TINY[2:], "--size", "1024", "--steps", "1",
                "--runs-dir", str(tmp_path / "runs"), preexec_fn=_limit_memory)
    _no_traceback(train)
    assert (train.code, train.err_lines) == (1, ["ddpm-studio: error: training failed (oom): out of memory on cpu "
                                                 "with batch size 4; try a smaller batch size or image size"])


def test_the_cpu_allocators_message_counts_as_out_of_memory_for_every_command():
    from ddpm_studio.cli.errors import report

    exc = RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                       "you tried to allocate 13107200000 bytes. Error code 12 (Cannot allocate memory)")
    assert report(exc, "sample", None) == ("ddpm-studio: error: out of memory; try a smaller --count, or "
                                           "--device cpu if a GPU ran out", 1)
    assert report(MemoryError(), "noise", None)[0] == "ddpm-studio: error: out of memory; try a smaller --size or " \
                                                      "fewer --rows"


def test_sample_count_has_an_upper_bound_and_is_made_in_chunks(cli_here, tmp_path, tiny_run):
    runs, out = str(tiny_run.parent), tmp_path / "many"
    huge = cli_here("sample", "tiny", "--runs-dir", runs, "--count", "100000", "--out", str(out))
    _no_traceback(huge)
    assert (huge.code, huge.err_lines) == (1, ["ddpm-studio: error: --count must be in 1..50000, got 100000"])
    chunked = cli_here("sample", "tiny", "--runs-dir", runs, "--count", "260", "--method", "ddim", "--steps", "2",
                  "--out", str(out), "--quiet")
    assert chunked.code == 0, chunked.err
    files = sorted(p.name for p in out.glob("sample_*.png"))
    assert len(files) == 260 and files[0] == "sample_000.png" and "sample_259.png" in files
    grid = np.asarray(Image.open(out / "grid.png"))  # the first chunk: 256 tiles of 8 px, 16 a row, 2 px gaps
    assert grid.shape[:2] == (2 + 16 * 10, 2 + 16 * 10)
    first, later = (np.asarray(Image.open(out / name)) for name in ("sample_000.png", "sample_256.png"))
    assert not np.array_equal(first, later)  # the second chunk draws its own noise


# ---- 10: the log file and every skipped file ----------------------------------------------------------------

def test_train_lists_every_skipped_file_and_writes_the_log_file(cli_here, home, tmp_path):
    data = _images(tmp_path / "mixed", good=8, bad=12)
    result = cli_here("train", "--data", str(data), *TINY, "--steps", "1", "--name", "mixed",
                 "--runs-dir", str(tmp_path / "runs"))
    _no_traceback(result)
    assert result.code == 0, result.err
    listing, log_file = tmp_path / "runs" / "mixed" / "problems.txt", home / "logs" / "ddpm-studio.log"
    bad = [f"bad{i:02d}.png: not an image (unrecognised format)" for i in range(12)]
    assert sorted(listing.read_text().splitlines()) == bad
    assert result.err_lines[0] == (f"ddpm-studio: skipped 12 unusable file(s) of {data} (all listed in {listing} "
                                   f"and the log file {log_file}):")
    assert sorted(line.strip() for line in result.err_lines[1:11]) == bad[:10]
    assert result.err_lines[11] == f"  ... and 2 more in {listing}" and len(result.err_lines) == 12
    log_text = log_file.read_text()
    assert all(f"skipped {line}" in log_text for line in bad)


def test_a_bug_is_an_internal_error_naming_the_log_file_which_keeps_the_traceback(cli_here, home, tmp_path,
                                                                                 monkeypatch):
    import ddpm_studio.cli.runs as runs_command

    def boom(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(runs_command, "run_rows", boom)
    result = cli_here("runs", "--runs-dir", str(tmp_path))
    log_file = home / "logs" / "ddpm-studio.log"
    assert (result.code, result.err_lines) == (70, [f"ddpm-studio: internal error: ZeroDivisionError: boom; "
                                                    f"details in {log_file}"])
    log_text = log_file.read_text()
    assert "Traceback (most recent call last)" in log_text and 'raise ZeroDivisionError("boom")' in log_text

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs_command, "run_rows", interrupt)
    interrupted = cli_here("runs", "--runs-dir", str(tmp_path))
    assert (interrupted.code, interrupted.err_lines) == (130, ["ddpm-studio: interrupted"])


# ---- 11: global flags before the command ------------------------------------------------------------------

def test_verbose_is_accepted_before_and_after_the_command(cli, cli_here, tmp_path):
    empty = tmp_path / "no-runs"
    for args in (["-v", "runs"], ["--verbose", "runs"], ["runs", "-v"]):
        result = cli_here(*args, "--runs-dir", str(empty))
        assert result.code == 0 and result.err_lines[-1] == f"no runs in {empty}"
        assert any(line.startswith("ddpm-studio: info: ") for line in result.err_lines)  # -v: details on stderr
    quiet = cli_here("runs", "--runs-dir", str(empty))
    assert quiet.err_lines == [f"no runs in {empty}"]
    terminal = cli("-v", "runs", "--runs-dir", str(empty))  # through `python -m ddpm_studio`, as typed
    _no_traceback(terminal)
    assert terminal.code == 0 and terminal.err_lines[-1] == f"no runs in {empty}"


def test_help_lists_the_apps_flags_and_the_log_file(cli_here, home):
    result = cli_here("--help")
    assert result.code == 0
    text = result.out
    for flag in ("--reset-settings", "--source", "--log-level", "--self-test", "--runs-dir", "-v, --verbose"):
        assert flag in text
    assert str(home / "logs" / "ddpm-studio.log") in text


# ---- 12: a relative --data is stored absolute ---------------------------------------------------------------

def test_a_relative_data_folder_is_stored_absolute_and_resumes_from_elsewhere(cli_here, tmp_path):
    work, elsewhere, runs = tmp_path / "work", tmp_path / "elsewhere", tmp_path / "runs"
    _images(work / "pics", good=8)
    elsewhere.mkdir()
    first = cli_here("train", "--data", "pics", *TINY, "--steps", "2", "--name", "rel", "--runs-dir", str(runs),
                     cwd=work)
    assert first.code == 0, first.err
    stored = json.loads((runs / "rel" / "config.json").read_text())["data"]["source"]
    assert stored == str(work / "pics")
    table = cli_here("runs", "--runs-dir", str(runs))
    assert table.out.splitlines()[1].split()[-2] == str(work / "pics")  # the stored path, shown
    resumed = cli_here("train", "--resume", "rel", "--steps", "3", "--runs-dir", str(runs), "--quiet", cwd=elsewhere)
    assert resumed.code == 0, resumed.err


# ---- 13: damaged config files name the file and the key -----------------------------------------------------

def _damaged(config: dict, how: str) -> str:
    if how == "not json":
        return "{not json"
    config = json.loads(json.dumps(config))
    if how == "int a":
        config["training"]["batch_size"] = "a"
    elif how == "unknown key":
        config["training"]["bogus"] = 1
    elif how == "missing section":
        del config["diffusion"]
    return json.dumps(config)


@pytest.mark.parametrize("how, reason", [
    ("int a", "config.json: training.batch_size must be an integer, got 'a'"),
    ("unknown key", "config.json: training.bogus is an unknown TrainingConfig field"),
    ("missing section", "config.json: the run configuration lacks the 'diffusion' section"),
    ("not json", "config.json: the run configuration is not valid JSON (Expecting property name enclosed in "
                 "double quotes at line 1)"),
])
def test_a_damaged_config_names_the_file_and_the_key(cli_here, tiny_run, how, reason):
    config_path = tiny_run / "config.json"
    config_path.write_text(_damaged(json.loads(config_path.read_text()), how))
    result = cli_here("train", "--resume", str(tiny_run), "--steps", "5", "--quiet")
    _no_traceback(result)
    assert (result.code, result.err_lines) == (1, [f"ddpm-studio: error: {config_path} cannot be used: {reason}"])


# ---- 14: a refused pickle ----------------------------------------------------------------------------------

class _Payload:
    def __reduce__(self):
        return (print, ("PAYLOAD RAN",))


@pytest.mark.parametrize("writer", ["torch.save", "raw pickle"])
def test_a_refused_pickle_is_said_plainly_without_torchs_unsafe_advice_or_warnings(cli, tiny_run, writer):
    for older in tiny_run.glob("checkpoints/step_00000002.*"):
        older.unlink()  # no older checkpoint to fall back to: the refusal is the error
    state = tiny_run / "checkpoints" / "step_00000004.state.pt"
    if writer == "torch.save":
        torch.save({"format": "x", "payload": _Payload()}, state)
    else:
        state.write_bytes(pickle.dumps({"payload": _Payload()}, protocol=4))
    result = cli("train", "--resume", str(tiny_run), "--steps", "5", "--quiet")
    _no_traceback(result)
    assert "PAYLOAD RAN" not in result.out + result.err and "weights_only" not in result.err
    assert (result.code, result.err_lines) == (1, [
        "ddpm-studio: error: step_00000004.state.pt was refused: it holds Python objects other than tensors and "
        "numbers, which are never loaded (a damaged or foreign file)"])


# ---- 15: a damaged latest checkpoint, an older valid one ------------------------------------------------------

def test_a_damaged_latest_checkpoint_falls_back_with_one_warning_and_checkpoint_picks_one(cli_here, tmp_path, tiny_run):
    latest = tiny_run / "checkpoints" / "step_00000004.safetensors"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    runs, out = str(tiny_run.parent), str(tmp_path / "out")
    warning = ("ddpm-studio: warning: passing over a damaged checkpoint for step_00000002.safetensors: "
               "step_00000004.safetensors is not a readable checkpoint (damaged or not a safetensors file: "
               "Error while deserializing header: incomplete metadata, file not fully covered)")
    sample = cli_here("sample", "tiny", "--runs-dir", runs, "--count", "1", "--steps", "2", "--method", "ddim",
                 "--out", out, "--quiet")
    _no_traceback(sample)
    assert (sample.code, sample.err_lines) == (0, [warning])
    chosen = cli_here("sample", "tiny", "--runs-dir", runs, "--checkpoint", "step_2", "--count", "1", "--steps", "2",
                 "--method", "ddim", "--out", out, "--quiet")
    assert (chosen.code, chosen.err_lines) == (0, [])
    named = cli_here("sample", "tiny", "--runs-dir", runs, "--checkpoint", "step_4", "--out", out, "--quiet")
    assert named.code == 1 and named.err_lines[0].endswith("; an older checkpoint, step_00000002.safetensors, "
                                                             "is usable")
    missing = cli_here("export", "tiny", str(tmp_path / "e.safetensors"), "--runs-dir", runs, "--checkpoint", "3")
    assert (missing.code, missing.err_lines) == (1, ["ddpm-studio: error: tiny has no checkpoint at step 3 "
                                                     "(it has: step_2, step_4)"])
    resume = cli_here("train", "--resume", "tiny", "--runs-dir", runs, "--steps", "5", "--quiet")
    _no_traceback(resume)
    assert (resume.code, resume.err_lines) == (0, [warning])


# ---- 16: clear messages for odd arguments ---------------------------------------------------------------------

@pytest.mark.parametrize("args, line", [
    (["noise", "builtin:shapes?n=2", "--timesteps", "0"], "timesteps must be an integer >= 1, got 0"),
    (["noise", "builtin:shapes?n=2", "--rows", "0"], "--rows must be at least 1, got 0"),
    (["noise", "builtin:shapes?n=2", "--out", "{tmp}"], "--out {tmp} is a folder; give the grid's file name, "
                                                        "for instance noise.png"),
    (["runs", "--runs-dir", "/dev/null"], "--runs-dir /dev/null is not a folder"),
    (["train", "--data", "builtin:shapes?n=8", "--runs-dir", "/dev/null"], "--runs-dir /dev/null is not a folder"),
    (["sample", "demo", "--runs-dir", "/dev/null"], "--runs-dir /dev/null is not a folder"),
    (["sample", "demo", "--out", "{file}"], "--out {file} is a file; give a folder for the images"),
])
def test_odd_arguments_have_clear_one_line_messages(cli_here, tmp_path, args, line):
    (tmp_path / "a-file").write_text("x")
    fill = {"tmp": str(tmp_path), "file": str(tmp_path / "a-file")}
    result = cli_here(*[a.format(**fill) for a in args])
    _no_traceback(result)
    assert (result.code, result.err_lines) == (1, [f"ddpm-studio: error: {line.format(**fill)}"])


# ---- 17: a train that fails on its data takes no folder and no name -------------------------------------------

def test_a_train_that_fails_on_its_data_leaves_no_run_folder(cli_here, tmp_path):
    runs, empty = tmp_path / "runs", _images(tmp_path / "broken", good=0, bad=2)
    failed = cli_here("train", "--data", str(empty), *TINY, "--steps", "1", "--name", "mine", "--runs-dir", str(runs))
    _no_traceback(failed)
    assert failed.code == 1 and len(failed.err_lines) == 1 and str(empty) in failed.err_lines[0]
    assert not (runs / "mine").exists()
    good = cli_here("train", "--data", "builtin:shapes?n=8", *TINY, "--steps", "1", "--name", "mine",
               "--runs-dir", str(runs))
    assert good.code == 0 and good.out.strip() == str(runs / "mine")  # the name is still free: not mine-2


# ---- 19: divergence is said once --------------------------------------------------------------------------------

def test_divergence_is_reported_once_even_when_verbose(cli_here, tmp_path):
    result = cli_here("-v", "train", "--data", "builtin:shapes?n=8", *TINY, "--steps", "30", "--lr", "1e30",
                 "--warmup", "0", "--grad-clip", "0", "--runs-dir", str(tmp_path / "runs"))
    _no_traceback(result)
    assert result.code == 1
    said = [line for line in result.err_lines if "diverged" in line]
    assert said == [result.err_lines[-1]] and said[0].startswith("ddpm-studio: error: training failed (nan): ")



def test_resuming_a_complete_run_says_how_to_continue(cli_here, tiny_run) -> None:
    """Issue 22 N11: the message comes from app.training, for both faces."""
    done = cli_here("train", "--resume", str(tiny_run), "--quiet")
    assert done.code == 0, done.err
    assert "The run is complete (4 / 4 steps): give train --resume a larger --steps" in done.err
