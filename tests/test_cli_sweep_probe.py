"""`ddpm-studio sweep` and `ddpm-studio probe` end to end on a random tiny UNet (8×8, T = 20) saved as a real
checkpoint, measured against a small built-in set, in tmp_path."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from ddpm_studio.cli import main

DATA = "builtin:shapes?n=48"


def test_sweep_prints_a_table_writes_json_and_a_plot_and_caches(tmp_path, capsys, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    args = ["sweep", str(checkpoint), "--nfe", "2,4,20", "--methods", "ddim,heun,ddpm", "--count", "8",
            "--reference-count", "12", "--json", str(tmp_path / "out.json"), "--plot", str(tmp_path / "nfe.png"),
            "--device", "cpu", "--quiet"]
    assert main(args) == 0  # --data defaults to the model's own training data
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(f"reference set: 12 real images of {DATA} (drawn with seed 0")  # issue 22 N19
    table = printed[1:]
    assert table[0].split()[:4] == ["SAMPLER", "NFE", "STEPS", "SPENT"]
    rows = {(r.split()[0], int(r.split()[1])): r.split() for r in table[1:] if r.split()[0] in ("ddim", "heun", "ddpm")}
    assert set(rows) == {("ddim", 2), ("ddim", 4), ("ddim", 20), ("heun", 2), ("heun", 4), ("heun", 20), ("ddpm", 20)}
    assert rows[("heun", 4)][2:4] == ["2", "3"]  # Heun: 2 steps spend 3 NFE, shown honestly
    assert any(r.startswith("real vs real") for r in table)
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["num_timesteps"] == 20 and len(data["cells"]) == 7 and data["floor"]["recall"] >= 0
    plot = np.asarray(Image.open(tmp_path / "nfe.png"))
    assert plot.shape == (420, 3 * 640, 3) and (plot != 255).any(axis=2).mean() > 0.02  # swd | precision | recall
    assert main(args + ["--data", DATA]) == 0  # the same data set spelled out: every cell from the cache
    again = capsys.readouterr().out.splitlines()[1:]
    assert sum(r.split()[7] == "cached" for r in again[1:8]) == 7  # the SEC column; the ± errors follow it
    assert all("±" in r for r in again[1:8])


def test_sweep_bad_arguments(tmp_path, capsys, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    assert main(["sweep", str(checkpoint), "--methods", "ddim,nope"]) == 2
    assert "methods are among" in capsys.readouterr().err
    assert main(["sweep", str(checkpoint), "--count", "2", "--quiet"]) == 1
    assert "count and reference_count must exceed" in capsys.readouterr().err


def test_probe_writes_the_grid_the_errors_the_inversion_and_the_interpolation(tmp_path, capsys, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    out = tmp_path / "probe"
    args = ["probe", str(checkpoint), "--data", DATA, "--index", "0,5", "--steps", "3", "--out", str(out / "grid.png"),
            "--inversion", str(out / "inv.png"), "--inversion-steps", "5", "--interpolate", str(out / "interp.gif"),
            "--frames", "4", "--scale", "1", "--json", str(out / "probe.json"), "--device", "cpu"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["t", "MSE", "LAYOUT", "DETAIL"]  # t, the timestep (T is the schedule's length)
    assert [int(r.split()[0]) for r in lines[1:6]] == [2, 5, 10, 14, 19]  # T = 20: the fractions of T - 1
    assert lines[6].startswith("DDIM inversion (5 steps) reconstruction MSE")
    assert lines[7].split()[1:] == ["#0", "shapes_00000"] and lines[8].split()[1:] == ["#5", "shapes_00005"]
    assert lines[9:] == [f"wrote {out / 'grid.png'} (the SDEdit grid)",
                         f"wrote {out / 'inv.png'} (x_0 | x_T | reconstruction)",
                         f"wrote {out / 'interp.gif'} (the interpolation #0 shapes_00000 -> #5 shapes_00005)",
                         f"wrote {out / 'probe.json'} (the errors (JSON))"]
    grid = Image.open(out / "grid.png")
    assert grid.size == (11 * 8 + 12 * 2, 16 + 2 * 8 + 3 * 2)  # x0 + 5 × (noised | reconstructed); two rows
    assert Image.open(out / "inv.png").size == (2 * 8 + 3 * 2, 3 * 8 + 4 * 2)
    assert Image.open(out / "interp.gif").n_frames == 6
    report = json.loads((out / "probe.json").read_text())
    assert report["t"] == [2, 5, 10, 14, 19] and len(report["mse"]) == 5 and len(report["inversion"]["mse"]) == 2


def test_probe_bad_arguments(tmp_path, capsys, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    assert main(["probe", str(checkpoint), "--t", "20", "--out", str(tmp_path / "g.png")]) == 1
    assert "t=20 is out of range 0..19" in capsys.readouterr().err
    assert main(["probe", str(checkpoint), "--index", "0", "--interpolate", str(tmp_path / "i.gif"),
                 "--out", str(tmp_path / "g.png")]) == 1
    assert not (tmp_path / "g.png").exists()  # refused before any work
    assert "interpolation needs two images" in capsys.readouterr().err


def test_sample_takes_an_nfe_budget_and_counts_progress_in_nfe(tmp_path, capsys, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    out = tmp_path / "heun"
    assert main(["sample", str(checkpoint), "--method", "heun", "--nfe", "6", "--count", "2", "--out", str(out),
                 "--device", "cpu"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("heun (NFE) [") and err[-1].endswith(" 5/5")  # 3 Heun steps spend 5 NFE
    assert (out / "sample_001.png").is_file()
    assert main(["sample", str(checkpoint), "--method", "ddpm", "--nfe", "10", "--out", str(out), "--quiet"]) == 1
    assert "DDPM always costs T = 20 NFE" in capsys.readouterr().err
