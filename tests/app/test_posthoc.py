"""Choosing the EMA length after training through app/ and both CLI commands (`sample --ema-length`, `ema-sweep`)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from ddpm_studio.app.posthoc import PosthocError, posthoc_range, posthoc_state
from ddpm_studio.app.sampling import LaneSpec, SamplingSession, load_for_sampling
from ddpm_studio.cli import main
from ddpm_studio.engine import SamplingConfig
from ddpm_studio.training.posthoc_ema import POSTHOC_DIR, reconstruct_weights


def _posthoc_run(root, name="posthoc", *, posthoc=True, steps=24):
    from ddpm_studio.app.training import TrainingJob, prepare
    from ddpm_studio.data import DataConfig
    from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
    from ddpm_studio.training.config import RunConfig, TrainingConfig

    config = RunConfig(model=replace(UNET_PRESETS["tiny"], base_channels=8, channel_mults=(1, 2), norm_groups=4),
                       diffusion=DiffusionConfig(timesteps=10),
                       data=DataConfig(source="builtin:shapes?n=8", image_size=8),
                       training=TrainingConfig(batch_size=4, max_steps=steps, warmup_steps=1, preview_time_share=0.0,
                                               metrics_time_share=0.0, device="cpu", mixed_precision="no",
                                               num_threads=1, posthoc_ema=posthoc))
    session = prepare(TrainingJob(config=config, runs_dir=root, name=name))
    session.run_training(lambda event: None)
    return session.run.path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return root, _posthoc_run(root), _posthoc_run(root, "plain", posthoc=False, steps=2)


def test_load_for_sampling_takes_the_reconstructed_weights_and_caches_them(runs):
    _, run, _ = runs
    plain = load_for_sampling(run, "cpu")
    short = load_for_sampling(run, "cpu", ema_length=0.05)
    expected, step = reconstruct_weights(run / POSTHOC_DIR, 0.05)
    assert step == 24
    for key, value in short.model.state_dict().items():
        torch.testing.assert_close(value, expected[key])
    assert any(not torch.equal(a, b) for a, b in zip(plain.model.state_dict().values(),
                                                       short.model.state_dict().values()))
    assert posthoc_state(run, 0.05) is posthoc_state(run, 0.05)  # cached per (run, σ_rel)
    low, high = posthoc_range(run)
    assert low < 0.05 < 0.10 < high


def test_a_sampling_lane_can_ask_for_an_ema_length(runs):
    _, run, _ = runs
    config = SamplingConfig(method="ddim", steps=2, count=2, seed=1)

    def final(ema_length):
        session = SamplingSession((LaneSpec("x", run, config, ema_length=ema_length),), device="cpu", max_frames=1)
        return list(session.frames())[-1].xt

    assert (final(0.05) != final(0.1)).any()


def test_bad_lengths_and_runs_without_snapshots_are_one_line_errors(runs, tmp_path, capsys):
    root, run, plain = runs
    with pytest.raises(PosthocError, match="no post-hoc EMA snapshots.*--posthoc-ema"):
        load_for_sampling(plain, "cpu", ema_length=0.1)
    assert posthoc_range(plain) is None
    assert main(["sample", str(run), "--ema-length", "0.5", "--out", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sigma_rel must be in 0.01..0.28" in err[0]
    assert main(["ema-sweep", "plain", "--runs-dir", str(root), "--lengths", "0.1"]) == 1
    assert "posthoc_ema" in capsys.readouterr().err


def test_cli_sample_and_ema_sweep(runs, tmp_path, capsys):
    root, run, _ = runs
    out = tmp_path / "samples"
    assert main(["sample", str(run), "--ema-length", "0.1", "--count", "2", "--steps", "2", "--out", str(out),
                 "--quiet"]) == 0
    assert (out / "grid.png").is_file()
    table = tmp_path / "sweep.json"
    assert main(["ema-sweep", "posthoc", "--runs-dir", str(root), "--lengths", "0.05,0.08", "--count", "8",
                 "--steps", "2", "--reference-count", "8", "--batch-size", "8", "--json", str(table),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "best EMA length: sigma_rel" in printed and "real" in printed
    found = json.loads(table.read_text())
    assert [p["sigma_rel"] for p in found["points"]] == [0.05, 0.08]
    assert found["best_sigma_rel"] == min(found["points"], key=lambda p: p["metrics"]["swd"])["sigma_rel"]
