"""`ddpm-studio eval` end to end on a random tiny UNet (8×8, T = 20) saved as a real checkpoint, scored against a
small built-in set (its held-out draw) in text and JSON, from samples it draws or from a folder of images."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_studio.app.evaluation import EvaluationCancelled, EvaluationSettings, evaluate_images, evaluate_model
from ddpm_studio.cli import main
from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.dataset import load_dataset
from ddpm_studio.training.quality_monitor import dataset_images

DATA = "builtin:shapes?n=48"
SMALL = ["--count", "8", "--steps", "3", "--reference-count", "12", "--device", "cpu", "--quiet"]


def test_eval_prints_every_metric_beside_real_vs_real(tmp_path, capsys, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    assert main(["eval", str(checkpoint), *SMALL]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "8 samples (dpmpp_2m, 3 steps) vs 12 real images of builtin:shapes?n=48" in lines[0]
    assert "seed=1000" in lines[1] and "48 training images" in lines[1]
    assert lines[2].startswith("protocol: 8 samples · DPM-Solver++(2M) 3 · vs 12 real")  # issue 21
    table = {line[:52].strip(): re.findall(r"(-?[\d.]+) ± ([\d.]+)", line[52:]) for line in lines[4:]
             if len(line) > 52}
    for name in ("SWD ×10³, mean of levels (lower is better)", "precision, k = 3 (higher is better)",
                 "recall, k = 3 (higher is better)"):
        assert len(table[name]) == 2, name  # the samples' value ± error and the real-vs-real one
    (swd, swd_error), (floor, _) = table["SWD ×10³, mean of levels (lower is better)"]
    assert float(swd) > 1.1 * float(floor) and float(swd_error) > 0  # an untrained UNet is far from real images
    recall = table["recall, k = 3 (higher is better)"]
    assert float(recall[1][0]) > float(recall[0][0])
    assert any(line.startswith("warning: only 8 samples") for line in lines)  # fewer than 64


def test_eval_json_and_samples_folder(tmp_path, capsys, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    out = tmp_path / "out" / "eval.json"
    assert main(["eval", str(checkpoint), "--data", DATA, "--json", str(out), *SMALL]) == 0
    data = json.loads(out.read_text())
    assert data["settings"]["count"] == 8 and data["settings"]["steps"] == 3
    assert set(data["report"]["metrics"]) == set(data["floor"]["metrics"])
    assert data["report"]["sample_count"] == data["floor"]["sample_count"] == 8
    assert data["held_out"].endswith("seed=1000") and data["report"]["training_count"] == 48
    assert data["protocol"]["sample_count"] == 8 and data["protocol"]["reference_count"] == 12
    assert data["protocol"]["sampler"] == "dpmpp_2m" and data["protocol"]["steps"] == 3
    assert set(data["report"]["errors"]) >= {"swd", "precision", "recall"} and data["report"]["errors"]["swd"] > 0
    # --samples: score a folder of training images instead: every one is flagged as memorised
    folder = tmp_path / "copies"
    folder.mkdir()
    train = load_dataset(DataConfig(source=DATA, image_size=8, hflip=False)).uint8_images()
    for i, image in enumerate(train[:8]):
        Image.fromarray(image).save(folder / f"{i}.png")
    assert main(["eval", str(checkpoint), "--samples", str(folder), "--json", str(out), *SMALL]) == 0
    data = json.loads(out.read_text())
    assert data["report"]["metrics"]["memorised"] == 1.0 and data["floor"]["metrics"]["memorised"] == 0.0
    assert "memorised share" in capsys.readouterr().out


def test_eval_bad_arguments(tmp_path, capsys, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    assert main(["eval", str(checkpoint), "--method", "nope"]) == 2
    assert main(["eval", str(checkpoint), "--count", "2", "--quiet"]) == 1
    assert "must exceed k=3" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing"), "--quiet"]) == 1


def test_use_case_progress_cancel_and_images(tmp_path, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    settings = EvaluationSettings(count=8, steps=3, reference_count=12)
    stages = []
    result = evaluate_model(checkpoint, settings=settings, device="cpu", on_progress=stages.append)
    sampling = [p for p in stages if p.stage == "sampling"]
    assert sampling[-1].done == sampling[-1].total == 8 * 3 and stages[-1].stage == "scoring"
    assert result.report.memorisation is not None and result.floor is not None
    with pytest.raises(EvaluationCancelled):
        evaluate_model(checkpoint, settings=settings, device="cpu", should_stop=lambda: True)
    # uint8 (N, H, W, C) images, e.g. the sampler view's: fresh held-out images score like the floor
    held = dataset_images(load_dataset(DataConfig(source="builtin:shapes?n=20&size=64&seed=77", image_size=8)))
    uint8 = ((held + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    fresh = evaluate_images(uint8, DATA, settings)
    assert fresh.settings.count == 20 and fresh.report.memorisation.share <= 0.1  # 8 px: rare chance matches
    assert fresh.report.precision_recall.recall > 0.5 and isinstance(uint8, np.ndarray)


def test_eval_per_class_reports_faithfulness(tmp_path, capsys):
    import json as _json

    from ddpm_studio.cli import main as _main

    runs = tmp_path / "runs"
    assert _main(["train", "--data", "builtin:shapes?n=24", "--size", "8", "--base-channels", "8", "--timesteps",
                  "10", "--batch-size", "4", "--steps", "1", "--threads", "1", "--name", "cond", "--runs-dir",
                  str(runs), "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "classes.json"
    assert _main(["eval", "cond", "--per-class", "--guidance", "0,2", "--count", "4", "--steps", "2",
                  "--reference-count", "24", "--runs-dir", str(runs), "--json", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "guidance w = 0" in text and "guidance w = 2" in text and "class faithfulness" in text
    results = _json.loads(out.read_text())
    assert [r["guidance"] for r in results] == [0.0, 2.0]
    assert [c["name"] for c in results[0]["classes"]] == ["circle", "square", "triangle"]
    assert 0.0 <= results[1]["faithfulness"] <= 1.0 and results[0]["real_faithfulness"] is not None


def test_eval_with_an_autoguidance_guide(tmp_path, capsys, save_random_checkpoint):
    main_model = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    weak = save_random_checkpoint(tmp_path / "w.safetensors", DATA, seed=1)
    other = save_random_checkpoint(tmp_path / "o.safetensors", "builtin:glyphs?n=48")
    settings = EvaluationSettings(count=8, steps=3, reference_count=12)
    plain = evaluate_model(main_model, settings=settings, device="cpu")
    guided = evaluate_model(main_model, settings=settings, device="cpu", guidance=2.0, guide=weak)
    assert "autoguided by" in guided.model and guided.report.swd.mean != plain.report.swd.mean
    same = evaluate_model(main_model, settings=settings, device="cpu", guidance=1.0, guide=weak)
    assert same.report.scalars() == plain.report.scalars()  # w = 1: the main model alone
    assert main(["eval", str(main_model), "--guide", str(other), "--guidance", "2", *SMALL]) == 1
    assert "o.safetensors cannot guide this model: the guide model differs in data source" in capsys.readouterr().err
    assert main(["eval", str(main_model), "--guidance", "0,2", *SMALL]) == 1
    assert "need --per-class" in capsys.readouterr().err
