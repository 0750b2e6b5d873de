"""`ddpm-studio lab`: trains on points, compares samplers from one x_T, writes lab.png and metrics.json."""

from __future__ import annotations

import json

from PIL import Image

from ddpm_studio.cli import main


def test_lab_writes_the_figure_and_metrics(tmp_path, capsys):
    out = tmp_path / "lab"
    assert main(["lab", "--data", "moons", "--points", "200", "--steps", "20", "--timesteps", "20", "--count", "50",
                 "--sampler", "euler:3", "--sampler", "dpmpp_2m:3", "--sampler", "ddpm", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("floor (data vs data) SWD ")
    assert [line.split(":")[0] for line in printed[1:4]] == ["euler@3", "dpmpp_2m@3", "ddpm@20"]
    assert printed[-2:] == [str(out / "lab.png"), str(out / "metrics.json")]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["format"] == "ddpm-studio.lab/1" and metrics["steps"] == 20 and metrics["points"] == 200
    assert [(s["method"], s["nfe"]) for s in metrics["samplers"]] == [("euler", 3), ("dpmpp_2m", 3), ("ddpm", 20)]
    assert metrics["floor_swd"] > 0 and all(s["swd"] > 0 for s in metrics["samplers"])
    assert metrics["loss"][-1][0] == 20
    with Image.open(out / "lab.png") as image:
        assert image.width > 4 * image.height  # 3 sampler panels, the field and the loss side by side


def test_lab_preset_and_bad_input(tmp_path, capsys):
    assert main(["lab", "--preset", "schedules", "--points", "100", "--count", "20", "--out", str(tmp_path / "s")]) == 0
    assert json.loads((tmp_path / "s" / "metrics.json").read_text())["diffusion"]["schedule"] == "linear"
    capsys.readouterr()
    (tmp_path / "nan.csv").write_text("1,2\nnan,1\n")
    assert main(["lab", "--data", f"csv:{tmp_path / 'nan.csv'}", "--steps", "1", "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.strip().endswith("nan.csv: line 2 of the points has a NaN or infinite coordinate")
    assert main(["lab", "--sampler", "rk4:3"]) == 2
    assert "sampler must be one of ddpm" in capsys.readouterr().err


def test_lab_guidance_lanes(tmp_path, capsys):
    """--conditional trains on the labels; ddim:5:3 is CFG w = 3, ddim:5:a2 autoguidance by the earlier snapshot."""
    out = tmp_path / "g"
    assert main(["lab", "--data", "gmm?modes=3", "--conditional", "--points", "150", "--steps", "310",
                 "--timesteps", "20", "--count", "30", "--sampler", "ddim:5", "--sampler", "ddim:5:3",
                 "--sampler", "ddim:5:a2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed[1:4]] == ["ddim@5", "ddim@5,cfg=3", "ddim@5,auto=2"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["conditional"] and metrics["num_classes"] == 3 and metrics["data_class_spread"] > 0
    assert [(s["guidance"], s["autoguide"]) for s in metrics["samplers"]] == [(1.0, False), (3.0, False), (2.0, True)]
    assert all(s["class_spread"] > 0 for s in metrics["samplers"])
    assert main(["lab", "--data", "moons", "--points", "50", "--steps", "1", "--timesteps", "10", "--count", "8",
                 "--sampler", "ddim:3:4", "--out", str(tmp_path / "u")]) == 1
    assert "classifier-free guidance (w != 1) needs a class-conditional lab" in capsys.readouterr().err
    assert main(["lab", "--sampler", "ddim:3:x"]) == 2
    assert "guidance must be a number (a prefix: autoguidance), got 'x'" in capsys.readouterr().err


def test_lab_twin_trains_a_second_model(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["lab", "--data", "moons", "--points", "100", "--steps", "10", "--timesteps", "20", "--count", "20",
                 "--sampler", "ddim:4", "--twin", "objective=eps", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed[1:3]] == ["ddim@4", "ddim@4@objective=eps"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert [s["model"] for s in metrics["samplers"]] == ["main", "objective=eps"]
    assert main(["lab", "--steps", "1", "--twin", "timesteps=3", "--out", str(tmp_path / "x")]) == 1
    assert "a twin changes one of schedule, objective" in capsys.readouterr().err
