"""`ddpm-studio` commands end to end on tiny settings (8x8 images, T = 20, a few steps), in tmp_path."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ddpm_studio.cli import main
from ddpm_studio.training.runs import open_run

TINY = ["--data", "builtin:shapes?n=16", "--size", "8", "--base-channels", "8", "--timesteps", "20",
        "--schedule", "linear", "--batch-size", "4", "--threads", "1", "--preview-count", "2", "--quiet"]


def _train(tmp_path, *extra: str) -> int:
    return main(["train", *TINY, "--runs-dir", str(tmp_path / "runs"), *extra])


def test_train_sample_runs_and_resume(tmp_path, capsys):
    assert _train(tmp_path, "--steps", "5", "--name", "tiny", "--checkpoint-every", "2", "--preview-every", "1") == 0
    run_path = tmp_path / "runs" / "tiny"
    assert capsys.readouterr().out.strip() == str(run_path)
    run = open_run(run_path)
    assert run.config.data.image_size == 8 and run.config.diffusion.timesteps == 20
    assert [s for s, _ in run.checkpoints()] == [2, 4, 5] and len(run.history()) == 5
    assert [p.name for p in run.previews()] == ["epoch_0001.png", "epoch_0002.png"]

    assert main(["runs", "--runs-dir", str(tmp_path / "runs")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["NAME", "STEP", "LOSS"] and table[1].split()[:2] == ["tiny", "5"]

    assert main(["train", "--resume", "tiny", "--steps", "7", "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 0
    assert open_run(run_path).latest_checkpoint().name == "step_00000007.safetensors"
    assert [r["step"] for r in open_run(run_path).history()] == list(range(1, 8))
    assert json.loads((run_path / "config.json").read_text())["training"]["max_steps"] == 7

    out = tmp_path / "samples"
    args = ["sample", "tiny", "--runs-dir", str(tmp_path / "runs"), "--steps", "4", "--count", "3",
            "--seed", "1", "--out", str(out), "--gif", "--quiet"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "reverse.gif", "sample_000.png",
                                                     "sample_001.png", "sample_002.png"]
    assert Image.open(out / "sample_000.png").size == (8, 8)
    gif = Image.open(out / "reverse.gif")
    assert gif.n_frames >= 4
    first = np.asarray(Image.open(out / "grid.png")).copy()
    assert main(args) == 0  # same seed, same images
    assert np.array_equal(first, np.asarray(Image.open(out / "grid.png")))
    ddpm_out = tmp_path / "ddpm"
    assert main(["sample", str(run_path / "checkpoints" / "step_00000007.safetensors"), "--method", "ddpm",
                 "--count", "2", "--out", str(ddpm_out), "--quiet"]) == 0
    assert (ddpm_out / "grid.png").is_file()


def test_train_by_epochs_and_grayscale(tmp_path):
    assert _train(tmp_path, "--epochs", "2", "--channels", "1", "--name", "grey", "--objective", "v",
                  "--learned-variance", "--loss", "l1") == 0
    run = open_run(tmp_path / "runs" / "grey")
    assert run.config.training.max_steps is None and run.config.model.in_channels == 1
    assert run.checkpoints()[-1][0] == 8  # 16 images / batch 4 = 4 steps per epoch
    assert Image.open(run.previews()[-1]).mode == "L"


def test_noise_grid_from_an_image_file_and_a_builtin_set(tmp_path, capsys):
    image = tmp_path / "photo.png"
    Image.fromarray(np.tile(np.arange(32, dtype=np.uint8)[None, :, None] * 8, (32, 1, 3))).save(image)
    out = tmp_path / "strip.png"
    assert main(["noise", str(image), "--t", "0,5,19", "--timesteps", "20", "--size", "16", "--out", str(out)]) == 0
    strip = np.asarray(Image.open(out))
    assert strip.shape == (2 + 1 * 18, 2 + 3 * 18, 3)
    tile0 = strip[2:18, 2:18].astype(int)  # t = 0 is almost the clean image
    tile2 = strip[2:18, 2 + 2 * 18:18 + 2 * 18].astype(int)  # t = T-1 is almost pure noise
    clean = np.asarray(Image.open(image).resize((16, 16))).astype(int)
    assert np.abs(tile0 - clean).mean() < np.abs(tile2 - clean).mean()
    grid = tmp_path / "grid.png"
    assert main(["noise", "builtin:shapes?n=8", "--rows", "5", "--t", "0,4,9,14,19", "--timesteps", "20",
                 "--size", "8", "--schedule", "linear", "--out", str(grid)]) == 0
    assert np.asarray(Image.open(grid)).shape == (2 + 5 * 10, 2 + 5 * 10, 3)  # the write-up's 5x5 figure


@pytest.mark.parametrize("argv, needle", [
    (["train", "--data", "/no/such/folder", "--size", "8"], "/no/such/folder"),
    (["train", "--size", "30"], "multiple of"),
    (["train", "--preset", "huge"], "unknown preset"),
    (["train", "--lr", "-1"], "lr"),
    (["sample", "no-such-run"], "no-such-run"),
    (["noise", "builtin:shapes", "--t", "0,2000", "--timesteps", "1000"], "out of range"),
    (["train", "--resume", "missing-run"], "not a run folder"),
])
def test_bad_input_exits_non_zero_with_one_line(tmp_path, capsys, argv, needle):
    code = main([*argv, *(["--runs-dir", str(tmp_path)] if argv[0] in ("train", "sample") else [])])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("ddpm-studio: error:") and needle in err and len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_bad_checkpoint_and_bad_arguments(tmp_path, capsys):
    bogus = tmp_path / "model.safetensors"
    bogus.write_bytes(b"not a checkpoint at all")
    assert main(["sample", str(bogus), "--out", str(tmp_path / "o")]) == 1
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert main(["train", "--steps", "many"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["--help"]) == 0


def test_runs_with_no_runs(tmp_path, capsys):
    assert main(["runs", "--runs-dir", str(tmp_path / "nothing")]) == 0
    assert "no runs" in capsys.readouterr().err


def test_training_failure_is_a_non_zero_exit(tmp_path, capsys):
    assert _train(tmp_path, "--steps", "30", "--lr", "1e30", "--warmup", "0", "--grad-clip", "0") == 1
    err = capsys.readouterr().err
    assert "training failed (nan)" in err and "lower learning rate" in err


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_without_a_terminal_prints_a_line_every_ten_seconds_and_the_last():
    import io

    from ddpm_studio.cli import ProgressBar

    stream, clock = io.StringIO(), _Clock()
    bar = ProgressBar(100_000, "train", stream=stream, clock=clock)
    for step in range(1, 51):  # 50 steps, 3 s apart: 150 s
        clock.now = 3.0 * step
        bar.update(step, f"loss {step}")
    bar.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    steps = [int(line.split("] ")[1].split("/")[0]) for line in lines]
    assert steps[0] == 1 and steps[-1] == 50  # the first line, then the last state on close
    gaps = [b - a for a, b in zip(steps, steps[1:-1])]
    assert gaps and all(g * 3.0 >= 10.0 for g in gaps) and len(steps) >= 150 // 12


def test_train_writes_plain_progress_lines_to_a_log_file(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DDPM_STUDIO_HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "ddpm_studio", "train", "--data", "builtin:shapes?n=8", "--size", "8",
           "--preset", "tiny", "--base-channels", "8", "--batch-size", "4", "--steps", "3", "--timesteps", "10",
           "--preview-every", "0", "--threads", "1", "--runs-dir", str(tmp_path / "runs")]
    with open(tmp_path / "log.txt", "w") as log:
        done = subprocess.run(cmd, stderr=log, stdout=subprocess.PIPE, env=env, timeout=300)
    assert done.returncode == 0
    lines = [line for line in (tmp_path / "log.txt").read_text().splitlines() if line.startswith("train")]
    assert lines[0].startswith("train [") and "1/3" in lines[0]
    assert "3/3" in lines[-1] and "\r" not in (tmp_path / "log.txt").read_text()


def test_lr_schedule_flag_reaches_the_run_config_and_the_history(tmp_path, capsys):
    assert _train(tmp_path, "--steps", "4", "--warmup", "1", "--preview-every", "0", "--name", "default") == 0
    assert _train(tmp_path, "--steps", "4", "--warmup", "1", "--preview-every", "0", "--name", "flat",
                  "--lr-schedule", "constant") == 0
    assert _train(tmp_path, "--steps", "4", "--warmup", "1", "--preview-every", "0", "--name", "floor",
                  "--lr-min-ratio", "0.5", "--lr", "1e-3") == 0
    runs = {name: open_run(tmp_path / "runs" / name) for name in ("default", "flat", "floor")}
    assert runs["default"].config.training.lr_schedule == "cosine"
    assert runs["flat"].config.training.lr_schedule == "constant"
    flat = [r["lr"] for r in runs["flat"].history()]
    assert flat == [flat[0]] * 4
    floor = [r["lr"] for r in runs["floor"].history()]
    assert floor[0] == pytest.approx(1e-3) and floor[-1] == pytest.approx(0.5e-3)
    saved = json.loads((tmp_path / "runs" / "floor" / "config.json").read_text())["training"]
    assert saved["lr_schedule"] == "cosine" and saved["lr_min_ratio"] == 0.5


def test_bad_lr_schedule_flags(tmp_path, capsys):
    assert _train(tmp_path, "--lr-schedule", "step") == 2  # not a choice: argparse's usage error
    assert "--lr-schedule" in capsys.readouterr().err
    assert _train(tmp_path, "--lr-min-ratio", "2") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ddpm-studio: error:") and "lr_min_ratio" in err and len(err.splitlines()) == 1


def test_block_flag_trains_a_convnext_unet_that_sampling_rebuilds(tmp_path, capsys):
    assert _train(tmp_path, "--steps", "2", "--preview-every", "0", "--name", "cnx", "--block", "convnext") == 0
    run = open_run(tmp_path / "runs" / "cnx")
    assert run.config.model.block == "convnext"
    out = tmp_path / "samples"
    assert main(["sample", str(run.path), "--method", "ddim", "--steps", "2", "--count", "2", "--out", str(out),
                 "--quiet", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert (out / "grid.png").is_file()
    assert _train(tmp_path, "--block", "unet") == 2  # not a choice: argparse's usage error
    assert "--block" in capsys.readouterr().err


def test_conditional_train_sample_by_class_and_its_errors(tmp_path, capsys):
    assert _train(tmp_path, "--steps", "2", "--name", "cond") == 0
    run = open_run(tmp_path / "runs" / "cond")
    assert run.config.data.classes == ("circle", "square", "triangle") and run.config.model.num_classes == 3
    out = tmp_path / "rows"
    common = ["--steps", "3", "--runs-dir", str(tmp_path / "runs"), "--quiet"]
    assert main(["sample", "cond", "--class", "all", "--count", "2", "--guidance", "2", "--out", str(out),
                 *common]) == 0
    assert len(list(out.glob("sample_*.png"))) == 6
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape[0] > grid.shape[1]  # 3 rows of 2
    assert main(["sample", "cond", "--guide", "cond", "--guidance", "2", "--class", "square", "--count", "1",
                 "--out", str(tmp_path / "auto"), *common]) == 0
    capsys.readouterr()
    assert main(["sample", "cond", "--class", "dog", "--out", str(tmp_path / "x"), *common]) == 1
    assert "unknown class 'dog'" in capsys.readouterr().err
    assert _train(tmp_path, "--steps", "1", "--name", "plain", "--labels", "none") == 0
    assert main(["sample", "plain", "--class", "circle", "--out", str(tmp_path / "x"), *common]) == 1
    assert "asked of an unconditional model" in capsys.readouterr().err
