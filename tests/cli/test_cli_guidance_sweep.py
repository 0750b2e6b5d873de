"""`ddpm-studio sweep --guidance`: the guidance sweep from the command line (table, JSON, plot, cache) and its
one-line errors."""

from __future__ import annotations

import json

from PIL import Image

DATA = "builtin:shapes?n=48"
CLASSES = ("circle", "square", "triangle")
SMALL = ["--data", DATA, "--methods", "ddim", "--nfe", "3", "--count", "9", "--reference-count", "12",
         "--batch-size", "9", "--quiet", "--threads", "1"]


def test_guidance_sweep_table_json_plot_then_cache(cli_here, tmp_path, save_random_checkpoint):
    model = save_random_checkpoint(tmp_path / "cond.safetensors", DATA, classes=CLASSES)
    out = tmp_path / "out"
    first = cli_here("sweep", str(model), "--guidance", "0,1,2", *SMALL, "--json", str(out / "g.json"),
                     "--plot", str(out / "g.png"))
    assert first.code == 0, first.err
    assert "9 samples per w, spread over 3 classes (classifier-free guidance), DDIM 3 steps = 3 NFE" in first.out
    rows = {line.split()[0]: line for line in first.out.splitlines() if line.strip()}
    assert {"0", "1", "2", "real"} <= set(rows) and "FAITHFUL" in first.out
    assert rows["2"].split()[1] == "6" and rows["1"].split()[1] == "3"  # guiding doubles the network inputs
    saved = json.loads((out / "g.json").read_text())
    assert [p["scale"] for p in saved["points"]] == [0.0, 1.0, 2.0] and saved["mode"] == "classifier-free"
    assert saved["classes"] == list(CLASSES) and "faithfulness" in saved["points"][0]["metrics"]
    with Image.open(out / "g.png") as plot:
        assert plot.width == 4 * 640  # swd, precision, recall and faithfulness panels
    again = cli_here("sweep", str(model), "--guidance", "0,1,2", *SMALL)
    assert again.code == 0, again.err
    assert sum(" cached" in line for line in again.out.splitlines()) == 3


def test_autoguidance_from_the_cli(cli_here, tmp_path, save_random_checkpoint):
    main = save_random_checkpoint(tmp_path / "main.safetensors", DATA, seed=0)
    weak = save_random_checkpoint(tmp_path / "weak.safetensors", DATA, seed=1)
    result = cli_here("sweep", str(main), "--guidance", "1,2", "--guide", str(weak), *SMALL)
    assert result.code == 0, result.err
    assert "autoguided by weak.safetensors" in result.out and "FAITHFUL" not in result.out


def test_guidance_errors_are_one_line(cli_here, tmp_path, save_random_checkpoint):
    plain = save_random_checkpoint(tmp_path / "plain.safetensors", DATA)
    cond = save_random_checkpoint(tmp_path / "cond.safetensors", DATA, classes=CLASSES)
    cases = [
        ((str(plain), "--guidance", "0,1,2"), "needs a class-conditional model"),
        ((str(cond), "--guidance", "1,-2"), "guidance scales must be finite numbers >= 0"),
        ((str(cond), "--guidance", "1,two"), "--guidance takes scales separated by commas"),
        ((str(cond), "--guidance", "1", "--methods", "ddim,euler"), "a guidance sweep runs one sampler"),
        ((str(cond), "--guide", str(plain)), "--guide belongs to a guidance sweep"),
    ]
    for args, message in cases:
        result = cli_here("sweep", *args, *SMALL[:2], "--quiet")
        assert result.code == 1 and len(result.err_lines) == 1, (args, result.err)
        assert result.err_lines[0].startswith("ddpm-studio: error: ") and message in result.err_lines[0], result.err
