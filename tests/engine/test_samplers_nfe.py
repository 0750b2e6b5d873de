"""NFE accounting, the dispatcher for every method, and identities between the new samplers and DDIM."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ddpm_studio.engine import SAMPLERS, SamplingConfig, nfe, sample, steps_for_nfe
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.grids import ddim_timesteps, dpm_timesteps

SAMPLING_METHODS = SAMPLERS.names()


class _Counting(nn.Module):
    """A small conv model that counts its calls (the NFE actually spent)."""

    def __init__(self, out_channels: int = 1) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, out_channels, 3, padding=1)
        self.calls = 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.tanh(self.conv(x))


def _diffusion(T: int = 50, **kwargs) -> GaussianDiffusion:
    return GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=T, **kwargs))


def test_nfe_and_its_inverse() -> None:
    assert nfe("heun", 10, 1000) == 19 and nfe("ddim", 10, 1000) == 10 and nfe("ddpm", 3, 1000) == 1000
    assert steps_for_nfe("heun", 20, 1000) == 10 and steps_for_nfe("heun", 19, 1000) == 10
    assert steps_for_nfe("dpmpp_2m", 20, 1000) == 20 and steps_for_nfe("ddpm", 1000, 1000) == 1000
    for method in SAMPLING_METHODS:
        for budget in (1, 5, 10, 20, 50, 100):
            if method == "ddpm":
                continue
            assert nfe(method, steps_for_nfe(method, budget, 1000), 1000) in (budget, budget - 1)
    with pytest.raises(ValueError, match="DDPM always costs"):
        steps_for_nfe("ddpm", 50, 1000)
    with pytest.raises(ValueError, match="can spend 1..1000 NFE"):
        steps_for_nfe("euler", 2000, 1000)
    with pytest.raises(ValueError, match="method"):
        nfe("lms", 10, 1000)
    config = SamplingConfig(method="heun").with_nfe(20, 1000)
    assert config.steps == 10 and config.nfe(1000) == 19


@pytest.mark.parametrize("method", SAMPLING_METHODS)
@pytest.mark.parametrize("learned", [False, True])
def test_every_method_spends_the_nfe_it_reports_and_is_seeded(method: str, learned: bool) -> None:
    diffusion = _diffusion(20, learned_variance=learned, objective="v")
    model = _Counting(2 if learned else 1)
    config = SamplingConfig(method=method, steps=6, seed=5)
    steps = list(sample(model, diffusion, (2, 1, 8, 8), config))
    assert model.calls == config.nfe(diffusion.num_timesteps)
    assert len(steps) == (20 if method == "ddpm" else 6) and [s.index for s in steps] == list(range(len(steps)))
    assert all(s.xt.shape == (2, 1, 8, 8) and torch.isfinite(s.xt).all() for s in steps)
    again = list(sample(model, diffusion, (2, 1, 8, 8), config))[-1].xt
    assert torch.equal(steps[-1].xt, again)
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_euler_is_ddim_on_the_same_grid(objective: str) -> None:
    """DDIM(η = 0) is Euler's method on dx/dσ = ε̂ (Karras et al. 2022, Sec. 4 / Song et al. 2021 eq. 14)."""
    diffusion = _diffusion(objective=objective)
    model, noise = _Counting(), torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for steps in (1, 4, 10):
        ddim = list(SAMPLERS["ddim"].run(model, diffusion, noise.shape, steps=steps, noise=noise, clip_x0=False))
        euler = list(SAMPLERS["euler"].run(model, diffusion, noise.shape, clip_x0=False,
                                           timesteps=ddim_timesteps(50, steps), noise=noise))
        assert [s.t for s in ddim] == [s.t for s in euler]
        for a, b in zip(ddim, euler):
            torch.testing.assert_close(b.xt, a.xt, rtol=1e-4, atol=1e-4)


def test_first_order_samplers_agree_at_their_first_step_and_ancestral_eta0_is_euler() -> None:
    diffusion = _diffusion()
    model, noise = _Counting(), torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    grid = dpm_timesteps(50, 5)
    ddim = next(iter(SAMPLERS["ddim"].run(model, diffusion, noise.shape, noise=noise, clip_x0=False, steps=5)))
    dpm = next(iter(SAMPLERS["dpmpp_2m"].run(model, diffusion, noise.shape, clip_x0=False,
                                             timesteps=ddim_timesteps(50, 5), noise=noise)))
    torch.testing.assert_close(dpm.xt, ddim.xt, rtol=1e-4, atol=1e-4)  # DPM-Solver++ 1st order = DDIM
    assert [s.t for s in SAMPLERS["dpmpp_2m"].run(model, diffusion, noise.shape, clip_x0=False, timesteps=grid,
                                                  noise=noise)] == grid
    euler = list(SAMPLERS["euler"].run(model, diffusion, noise.shape, clip_x0=False, steps=5, noise=noise))
    ancestral = list(SAMPLERS["euler_ancestral"].run(model, diffusion, noise.shape, clip_x0=False, steps=5,
                                                     noise=noise, eta=0.0))
    torch.testing.assert_close(ancestral[-1].xt, euler[-1].xt)
    stochastic = [list(SAMPLERS["euler_ancestral"].run(model, diffusion, noise.shape, clip_x0=False, steps=5,
                                                       noise=noise, generator=torch.Generator().manual_seed(s)))[-1].xt
                  for s in (0, 0, 1)]
    assert torch.equal(stochastic[0], stochastic[1]) and not torch.equal(stochastic[0], stochastic[2])


def test_heun_yields_one_step_per_step_and_custom_grids_are_checked() -> None:
    diffusion = _diffusion()
    model = _Counting()
    steps = list(SAMPLERS["heun"].run(model, diffusion, (1, 1, 4, 4), steps=7,
                                      generator=torch.Generator().manual_seed(0)))
    assert len(steps) == 7 and model.calls == 13 and steps[-1].t == 0
    for bad in ([10, 20], [49, 49], [50, 0], [], [3.5, 1]):
        with pytest.raises(ValueError, match="strictly decreasing"):
            list(SAMPLERS["euler"].run(model, diffusion, (1, 1, 4, 4), timesteps=bad))
    with pytest.raises(ValueError, match="eta"):
        list(SAMPLERS["euler_ancestral"].run(model, diffusion, (1, 1, 4, 4), steps=5, eta=2.0))
