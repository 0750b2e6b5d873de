"""Probes: SDEdit (noise to t and back), DDIM inversion -> reconstruction, slerp of latents."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_studio.engine import SAMPLERS
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.probes import invert_and_reconstruct, sdedit, sdedit_sweep, slerp

SCALE = 0.5


def _gaussian(T: int = 200, objective: str = "eps"):
    """Diffusion plus the exact ε-model for data N(μ, s² I) (see test_samplers_convergence)."""
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=T, objective=objective))
    mu = torch.linspace(-0.5, 0.5, 16, dtype=torch.float64).reshape(1, 1, 4, 4)
    alphas_cumprod = diffusion.schedule.alphas_cumprod

    def model(xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = alphas_cumprod[t].reshape(-1, 1, 1, 1)
        return ((1 - ab).sqrt() * (xt.double() - ab.sqrt() * mu) / (ab * SCALE**2 + 1 - ab)).float()

    return diffusion, model, mu


@pytest.mark.parametrize("method", SAMPLERS.names())
def test_sdedit_keeps_the_image_at_small_t_and_forgets_it_at_large_t(method: str) -> None:
    diffusion, model, mu = _gaussian()
    x0 = (mu + SCALE * torch.randn(8, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).float()
    rows = sdedit_sweep(model, diffusion, x0, [2, 20, 60, 199], method=method, steps=20, clip_x0=False,
                        generator=torch.Generator().manual_seed(1))
    errors = [float(r.mse.mean()) for r in rows]
    assert errors[0] < 0.01 < errors[1] < errors[2] and errors[1] < errors[3], errors
    # at t = T-1 the reconstruction is a fresh sample: its error is about that of two independent draws, 2s²
    assert 0.5 * 2 * SCALE**2 < errors[-1] < 1.5 * 2 * SCALE**2
    assert [r.t_start for r in rows] == [2, 20, 60, 199] and rows[1].noised.shape == x0.shape


def test_sdedit_is_seeded_and_checks_its_arguments() -> None:
    diffusion, model, mu = _gaussian()
    x0 = mu.float().expand(2, 1, 4, 4)
    runs = [list(sdedit(model, diffusion, x0, 50, method="euler_ancestral", steps=10,
                        generator=torch.Generator().manual_seed(s)))[-1].xt for s in (0, 0, 1)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    steps = list(sdedit(model, diffusion, x0, 5, steps=20, generator=torch.Generator().manual_seed(0)))
    assert len(steps) == 6 and steps[0].t == 5 and steps[-1].t == 0  # never more steps than t_start + 1
    with pytest.raises(ValueError, match="t_start"):
        sdedit(model, diffusion, x0, 200)
    with pytest.raises(ValueError, match="method must be one of"):
        sdedit(model, diffusion, x0, 10, method="lms")
    ddpm = list(sdedit(model, diffusion, x0, 30, method="ddpm", generator=torch.Generator().manual_seed(0)))
    assert [s.t for s in ddpm] == list(range(30, -1, -1))  # DDPM walks every timestep from t_start


def test_ddim_inversion_reconstructs_and_improves_with_steps() -> None:
    diffusion, model, mu = _gaussian(T=1000)
    x0 = (mu + SCALE * torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)).float()
    coarse, fine = (invert_and_reconstruct(model, diffusion, x0, steps=n) for n in (10, 100))
    assert float(fine.mse.max()) < 1e-3 and float(fine.mse.max()) < float(coarse.mse.max())
    # the latent of a data point is (nearly) standard normal: per-pixel variance ≈ 1, far from x0's s² = 0.25
    assert 0.5 < float(fine.latent.var()) < 2.0


def test_slerp_endpoints_norms_and_midpoint() -> None:
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(3, 2, 4, 4, generator=g), torch.randn(3, 2, 4, 4, generator=g)
    torch.testing.assert_close(slerp(z0, z1, 0.0), z0)
    torch.testing.assert_close(slerp(z0, z1, 1.0), z1)
    u0, u1 = z0 / z0.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1), z1 / z1.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
    for alpha in (0.1, 0.5, 0.9):
        norms = slerp(u0, u1, alpha).flatten(1).norm(dim=1)
        torch.testing.assert_close(norms, torch.ones(3), rtol=1e-5, atol=1e-5)  # stays on the sphere
        assert float(torch.lerp(u0, u1, alpha).flatten(1).norm(dim=1).max()) < 1.0  # lerp would not
    e0, e1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    torch.testing.assert_close(slerp(e0, e1, 0.5), torch.tensor([[math.sqrt(0.5), math.sqrt(0.5)]]))
    torch.testing.assert_close(slerp(e0, e0 * 2, 0.25), e0 * 1.25)  # parallel: linear
    with pytest.raises(ValueError, match="shape"):
        slerp(e0, torch.zeros(1, 3), 0.5)
