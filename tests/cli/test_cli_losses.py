"""`ddpm-studio losses RUN`: the table highest loss first, --top, --checkpoint, --csv (+ duplicates), bad input."""

from __future__ import annotations

import csv
import io
import shutil


def _rows(out: str) -> list[list[str]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["RANK", "LOSS"]) + 1
    return [line.split() for line in lines[start:] if line.split() and line.split()[0].isdigit()]


def test_losses_lists_every_image_highest_first_and_writes_the_csv(cli_here, tiny_run, tmp_path):
    out = tmp_path / "out" / "losses.csv"
    result = cli_here("losses", "tiny", "--runs-dir", str(tiny_run.parent), "--csv", str(out), "--quiet")
    assert result.code == 0, result.err
    assert "step_00000004.safetensors (step 4, EMA weights)" in result.out
    rows = _rows(result.out)
    assert len(rows) == 8 and [r[0] for r in rows] == [str(i) for i in range(1, 9)]
    losses = [float(r[1]) for r in rows]
    assert losses == sorted(losses, reverse=True)
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(table) == 8 and list(table[0])[:5] == ["rank", "index", "image", "class", "mean_loss"]
    assert [round(float(r["mean_loss"]), 4) for r in table] == losses
    assert table[0]["image"] == rows[0][4] and table[0]["class"] == rows[0][3]


def test_losses_top_checkpoint_and_duplicates(cli_here, tiny_run, tmp_path, save_random_checkpoint):
    result = cli_here("losses", str(tiny_run), "--checkpoint", "step_2", "--top", "3", "--quiet")
    assert result.code == 0, result.err
    assert "(step 2, EMA weights)" in result.out and len(_rows(result.out)) == 3
    assert "(5 more; --top N shows more" in result.out
    # a run on a folder of 8 shapes holding an exact copy of one of them
    from PIL import Image

    from ddpm_studio.data import DataConfig, load_dataset

    data = tmp_path / "data"
    data.mkdir()
    for i, image in enumerate(load_dataset(DataConfig(source="builtin:shapes?n=8", image_size=8)).uint8_images()):
        Image.fromarray(image).save(data / f"s{i}.png")
    shutil.copy(data / "s2.png", data / "s2 again.png")
    run = tmp_path / "runs" / "copied"
    save_random_checkpoint(run / "checkpoints" / "step_00000001.safetensors", data=str(data))
    out = tmp_path / "pairs.csv"
    result = cli_here("losses", str(run), "--duplicates", "--csv", str(out), "--quiet")
    assert result.code == 0, result.err
    assert "1 near-duplicate pair(s): closer than 0.1 × the median nearest-neighbour distance" in result.out
    assert "0.0000  s2 again.png  s2.png" in result.out
    assert len(list(csv.DictReader(io.StringIO(out.read_text())))) == 9
    pairs = list(csv.DictReader(io.StringIO((tmp_path / "pairs.duplicates.csv").read_text())))
    assert [(p["image_a"], p["image_b"], float(p["distance"])) for p in pairs] == [("s2 again.png", "s2.png", 0.0)]


def test_losses_bad_input_is_one_line(cli_here, tiny_run, tmp_path, save_random_checkpoint):
    gone = tmp_path / "holiday photos"
    save_random_checkpoint(tmp_path / "runs" / "lost" / "checkpoints" / "step_00000001.safetensors", data=str(gone))
    result = cli_here("losses", str(tmp_path / "runs" / "lost"), "--quiet")
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1
    assert "the training data of lost cannot be loaded" in result.err and "holiday photos" in result.err
    (tiny_run / "checkpoints" / "step_00000004.safetensors").write_bytes(b"garbage")
    result = cli_here("losses", str(tiny_run), "--checkpoint", "step_4", "--quiet")
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1
    assert "step_00000004.safetensors" in result.err and "step_00000002" in result.err  # the usable older one
    result = cli_here("losses", "no-such-run", "--runs-dir", str(tiny_run.parent), "--quiet")
    assert result.code == 1 and "no checkpoint, run folder or run named 'no-such-run'" in result.err
    for flag, value in (("--timesteps", "0"), ("--timesteps", "1000000000"), ("--top", "-1")):
        result = cli_here("losses", str(tiny_run), flag, value)
        assert result.code == 2 and flag in result.err
