"""The NFE–quality sweep (no Qt): cells planned by NFE, the same x_T for every cell, the per-checkpoint cache,
cancellation, progress in NFE; on a random tiny UNet (8×8, T = 20) saved as a real checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from ddpm_studio.app import sweep as sweep_module
from ddpm_studio.app.sweep import SweepSettings, plan_cells, run_sweep
from ddpm_studio.engine import SamplingConfig, sample
from ddpm_studio.training.checkpoint import load_model

DATA = "builtin:shapes?n=48"
SMALL = dict(count=8, reference_count=12, batch_size=8)


@pytest.fixture
def checkpoint(tmp_path, save_random_checkpoint):
    return save_random_checkpoint(tmp_path / "model.safetensors", DATA)


def test_plan_spends_budgets_honestly():
    cells, skipped = plan_cells(("ddpm", "heun", "ddim"), (5, 10, 20, 50), 20)
    assert ("heun", 10, 5, 9) in cells and ("heun", 5, 3, 5) in cells  # Heun: 2·steps - 1
    assert ("ddpm", 20, 20, 20) in cells and not any(m == "ddpm" and b != 20 for m, b, *_ in cells)
    assert ("ddim", 20, 20, 20) in cells and not any(b == 50 for _, b, *_ in cells)
    assert any(s.startswith("ddim@50") for s in skipped)


def test_sweep_cells_use_the_same_noise_and_match_the_sampler(checkpoint, tmp_path):
    settings = SweepSettings(methods=("ddim", "euler"), budgets=(2, 4), with_floor=False, **SMALL)
    seen = []
    result = run_sweep(checkpoint, DATA, settings, cache_dir=tmp_path / "cache", on_cell=seen.append)
    assert [(c.method, c.budget) for c in result.cells] == [("ddim", 2), ("ddim", 4), ("euler", 2), ("euler", 4)]
    assert seen == list(result.cells) and not result.cancelled
    for cell in result.cells:
        assert set(cell.metrics) >= {"swd", "precision", "recall"} and not cell.cached
    # one cell recomputed by hand from the shared x_T gives the same metric
    model, diffusion, _ = load_model(checkpoint)
    x_T = torch.randn((8, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    config = SamplingConfig(method="ddim", steps=4, seed=0, count=8)
    images = list(sample(model, diffusion, x_T.shape, config, noise=x_T))[-1].xt.clamp(-1, 1)
    captured = {}
    real_evaluate = sweep_module.score_samples  # the shared score (issue 21)

    def spy(samples, *args, **kwargs):
        captured.setdefault("samples", []).append(samples)
        return real_evaluate(samples, *args, **kwargs)

    sweep_module.score_samples = spy
    try:
        again = run_sweep(checkpoint, DATA, settings, use_cache=False, cache_dir=tmp_path / "cache2")
    finally:
        sweep_module.score_samples = real_evaluate
    assert torch.allclose(captured["samples"][1], images, atol=1e-5)  # ddim@4 is the second cell
    assert again.cell("ddim", 4).metrics == result.cell("ddim", 4).metrics  # deterministic end to end


def test_cache_hit_skips_sampling_and_a_changed_checkpoint_misses(checkpoint, tmp_path, save_random_checkpoint):
    settings = SweepSettings(methods=("ddim",), budgets=(2, 3), **SMALL)
    first = run_sweep(checkpoint, DATA, settings, cache_dir=tmp_path)
    assert first.floor is not None and "swd" in first.floor
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["format"] == "ddpm-studio.sweep-cache/1"
    progress = []
    second = run_sweep(checkpoint, DATA, settings, cache_dir=tmp_path, on_progress=progress.append)
    assert all(c.cached for c in second.cells) and progress == []
    assert [c.metrics for c in second.cells] == [c.metrics for c in first.cells] and second.floor == first.floor
    # each cell carries its bootstrap errors (issue 21), kept in the cache with the metrics
    assert all(set(c.errors) >= {"swd", "precision", "recall"} and c.errors["swd"] > 0 for c in first.cells)
    assert [c.errors for c in second.cells] == [c.errors for c in first.cells]
    # one more budget computes only that cell
    third = run_sweep(checkpoint, DATA, SweepSettings(methods=("ddim",), budgets=(2, 3, 4), **SMALL),
                      cache_dir=tmp_path, on_progress=progress.append)
    assert [c.cached for c in third.cells] == [True, True, False] and progress[-1].total_nfe == 4
    only = run_sweep(checkpoint, DATA, SweepSettings(methods=("ddim",), budgets=(2, 5), **SMALL), cache_dir=tmp_path,
                     cached_only=True)
    assert [c.budget for c in only.cells] == [2] and only.floor == first.floor
    # other weights at the same path: a new hash, so nothing is reused
    save_random_checkpoint(checkpoint, DATA, seed=1)
    fourth = run_sweep(checkpoint, DATA, settings, cache_dir=tmp_path)
    assert not any(c.cached for c in fourth.cells)


def test_cancel_returns_the_finished_cells_and_caches_them(checkpoint, tmp_path):
    settings = SweepSettings(methods=("ddim", "dpmpp_2m"), budgets=(3,), with_floor=False, **SMALL)
    progress = []

    def stop() -> bool:  # stop a third of the way into the second cell
        return bool(progress) and progress[-1].cell == 1 and progress[-1].done_nfe >= 4

    result = run_sweep(checkpoint, DATA, settings, cache_dir=tmp_path, should_stop=stop,
                       on_progress=progress.append)
    assert result.cancelled and [c.method for c in result.cells] == ["ddim"]
    assert progress[0].total_nfe == 6 and progress[-1].done_nfe == pytest.approx(4.0)
    resumed = run_sweep(checkpoint, DATA, settings, cache_dir=tmp_path)
    assert [c.cached for c in resumed.cells] == [True, False] and not resumed.cancelled


def test_bad_settings_are_one_line_errors(checkpoint):
    with pytest.raises(ValueError, match="methods must be among"):
        run_sweep(checkpoint, DATA, SweepSettings(methods=("nope",)))
    with pytest.raises(ValueError, match="count and reference_count must exceed"):
        run_sweep(checkpoint, DATA, SweepSettings(count=2))


def test_a_cell_cached_before_errors_were_stored_is_used_without_them(checkpoint, tmp_path):
    settings = SweepSettings(methods=("ddim",), budgets=(2,), with_floor=False, **SMALL)
    run_sweep(checkpoint, DATA, settings, cache_dir=tmp_path)
    path = next(tmp_path.glob("*.json"))
    data = json.loads(path.read_text())
    for entry in data["entries"].values():
        entry.pop("errors", None)  # as an older version wrote it
    path.write_text(json.dumps(data))
    again = run_sweep(checkpoint, DATA, settings, cache_dir=tmp_path)
    assert again.cells[0].cached and again.cells[0].errors == {}
