"""Probes (no Qt): SDEdit over t with its error split in layout/detail bands, DDIM inversion, slerp
interpolation, and their pictures; on a random tiny UNet (8×8, T = 20) saved as a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_studio.app.probe import (
    ProbeSettings,
    band_errors,
    interpolation_frames,
    inversion_probe,
    inversion_strip,
    load_probe_model,
    probe_images,
    save_interpolation,
    sdedit_grid,
    sdedit_probe,
)
from ddpm_studio.data.transforms import to_uint8
from ddpm_studio.engine.probes import invert_and_reconstruct, sdedit_sweep

DATA = "builtin:shapes?n=16"


@pytest.fixture(scope="module")
def probe(tmp_path_factory, save_random_checkpoint):
    path = save_random_checkpoint(tmp_path_factory.mktemp("m") / "m.safetensors", DATA)
    return load_probe_model(path)


def test_sdedit_probe_is_the_engine_sweep_with_one_shared_noise(probe):
    images = probe_images(DATA, [0, 3, 5], 8, 3)
    settings = ProbeSettings(t_values=(0, 5, 19), steps=4, seed=2)
    seen = []
    result = sdedit_probe(probe, images, settings, on_progress=lambda d, n: seen.append((d, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert result.noised.shape == (3, 3, 8, 8, 3) and result.mse.shape == (3, 3)
    eps = torch.randn(images.shape, generator=torch.Generator().manual_seed(2))
    expected = sdedit_sweep(probe.model, probe.diffusion, images, [0, 5, 19], steps=4, noise=eps)
    for i, row in enumerate(expected):
        assert np.array_equal(result.reconstructions[i], to_uint8(row.reconstruction))
        assert np.allclose(result.mse[i], row.mse.numpy(), atol=1e-6)
    assert result.mse[0].mean() < result.mse[2].mean()  # t = 0 keeps the image; t = T-1 does not
    assert [t for t, *_ in result.mean_errors()] == [0, 5, 19]


def test_band_errors_tell_layout_from_detail():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    detail = x + 0.3 * torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(4, 4)  # zero mean in every 2×2 cell
    layout, fine = band_errors(detail, x)
    assert layout.max() < 1e-10 and fine.min() > 0.05
    layout, fine = band_errors(x + 0.3, x)  # a shift of the mean is all layout
    assert torch.allclose(layout, torch.full((2,), 0.09)) and fine.max() < 1e-10


def test_stop_between_t_values(probe):
    images = probe_images(DATA, [0], 8, 3)
    calls = []
    assert sdedit_probe(probe, images, ProbeSettings(t_values=(3, 6, 9), steps=2),
                        should_stop=lambda: len(calls) >= 1, on_progress=lambda d, n: calls.append(d)) is None


def test_inversion_and_interpolation_end_points_are_the_reconstructions(probe, tmp_path):
    images = probe_images(DATA, [1, 2], 8, 3)
    inv = inversion_probe(probe, images, steps=10)
    expected = invert_and_reconstruct(probe.model, probe.diffusion, images, steps=10)
    assert np.allclose(inv.latents, expected.latent.numpy(), atol=1e-6) and inv.mse.shape == (2,)
    frames = interpolation_frames(probe, inv.latents[0], inv.latents[1], frames=5, steps=10, batch_size=2)
    assert frames.shape == (5, 8, 8, 3)
    assert np.abs(frames[0].astype(int) - inv.reconstructions[0]).max() <= 1
    assert np.abs(frames[-1].astype(int) - inv.reconstructions[1]).max() <= 1
    gif = save_interpolation(frames, tmp_path / "i.gif", scale=2)
    assert Image.open(gif).n_frames == 8 and Image.open(gif).size == (16, 16)  # forth and back
    strip = save_interpolation(frames, tmp_path / "i.png", scale=1)
    assert Image.open(strip).size == (5 * 8 + 4 * 2, 8)
    assert inversion_strip(inv, scale=1).shape[:2] == (3 * 8 + 4 * 2, 2 * 8 + 3 * 2)


def test_grid_has_a_column_pair_per_t_and_a_header(probe):
    result = sdedit_probe(probe, probe_images(DATA, [0, 1], 8, 3), ProbeSettings(t_values=(2, 9), steps=2))
    grid = sdedit_grid(result, scale=1)
    assert grid.shape == (16 + 2 * 8 + 3 * 2, 5 * 8 + 6 * 2, 3)
    assert (grid[:16] < 128).any()  # the t labels


def test_bad_settings(probe):
    images = probe_images(DATA, [0], 8, 3)
    with pytest.raises(ValueError, match="t=20 is out of range 0..19"):
        sdedit_probe(probe, images, ProbeSettings(t_values=(20,)))
    with pytest.raises(ValueError, match="method must be one of"):
        sdedit_probe(probe, images, ProbeSettings(method="lms"))
    with pytest.raises(ValueError, match="outside 0..15"):
        probe_images(DATA, [16], 8, 3)


def test_run_probe_is_the_one_pipeline_of_both_faces(tmp_path, save_random_checkpoint):
    """Empty t → the model's default row; inversion steps at most T; the interpolation between the first two."""
    from ddpm_studio.app.probe import default_t_values, run_probe

    path = save_random_checkpoint(tmp_path / "m.safetensors", DATA)
    stages = []
    outcome = run_probe(path, None, [1, 2], ProbeSettings(t_values=(), steps=2, inversion_steps=500),
                        interpolation=3, on_progress=lambda *s: stages.append(s))
    assert outcome.settings.t_values == default_t_values(20) and outcome.settings.inversion_steps == 20
    assert outcome.frames.shape == (3, 8, 8, 3) and outcome.inversion.steps == 20 and outcome.indices == (1, 2)
    assert stages[-1] == ("Inversion", 6, 6) and stages[0] == ("SDEdit", 1, 6)
    only = run_probe(path, DATA, [0], ProbeSettings(t_values=(5,), steps=2), inversion=False, interpolation=None)
    assert only.inversion is None and only.frames is None and only.sdedit.t_values == (5,)
    assert run_probe(path, DATA, [0], ProbeSettings(steps=2, t_values=(5,)), should_stop=lambda: True) is None
