"""Each new sampler equals its diffusers scheduler: same betas, same model, same x_T, same timesteps, ≤ 1e-4.

diffusers is only the reference here (the `test` extra); the tests are skipped where it is absent.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ddpm_studio.engine import SAMPLERS
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.grids import ddim_timesteps, dpm_timesteps, karras_timesteps

schedulers = pytest.importorskip("diffusers.schedulers")

PREDICTION_TYPE = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}
SHAPE = (2, 3, 8, 8)  # diffusers' DPM-Solver slices learned-variance outputs at 3 channels
TOLERANCE = 1e-4


class _Denoiser(nn.Module):
    """A fixed smooth network written out as the objective's target. Like a trained denoiser it is nearly the
    identity at small σ: x̂_0 = ᾱ x_t/√ᾱ + (1 - ᾱ) F(x_t, t) (the optimal form for unit-variance data) with a
    bounded F, so that few-step runs stay well conditioned in float32. It reads ᾱ_t from the schedule, so it
    accepts both our integer and diffusers' float timesteps."""

    def __init__(self, diffusion: GaussianDiffusion, learned: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6 if learned else 3, 3, padding=1)
        self.alphas_cumprod = diffusion.schedule.alphas_cumprod.float()
        self.objective, self.learned = diffusion.config.objective, learned

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.reshape(-1).expand(x.shape[0]).round().long()
        ab = self.alphas_cumprod[t].reshape(-1, 1, 1, 1)
        out = torch.tanh(self.conv(x))
        x0 = ab.sqrt() * x + (1 - ab) * out[:, :3] * (0.8 + 0.2 * torch.sin(t.float() / 150.0)).reshape(-1, 1, 1, 1)
        eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
        target = {"eps": eps, "x0": x0, "v": ab.sqrt() * eps - (1 - ab).sqrt() * x0}[self.objective]
        return torch.cat([target, out[:, 3:]], dim=1) if self.learned else target


def _setup(objective: str, schedule: str = "linear", T: int = 1000, learned: bool = False):
    diffusion = GaussianDiffusion(
        DiffusionConfig(schedule=schedule, timesteps=T, objective=objective, learned_variance=learned))
    model = _Denoiser(diffusion, learned)
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(7))
    kwargs = dict(num_train_timesteps=T, trained_betas=diffusion.schedule.betas.numpy(),
                  prediction_type=PREDICTION_TYPE[objective])
    return diffusion, model, noise, kwargs


def _diffusers_loop(scheduler, model, x: torch.Tensor, generator=None) -> torch.Tensor:
    """The pipeline loop: scale the input, call the model on its first 3 channels, step."""
    with torch.no_grad():
        for t in scheduler.timesteps:
            out = model(scheduler.scale_model_input(x, t), t)[:, :3]
            extra = {} if generator is None else {"generator": generator}
            x = scheduler.step(out, t, x, **extra).prev_sample
    return x


def _karras_start(scheduler, noise: torch.Tensor) -> torch.Tensor:
    # x_T/√ᾱ = x_T √(σ_max² + 1); diffusers' init_noise_sigma is σ_max alone for "linspace" spacing.
    return noise * math.sqrt(float(scheduler.sigmas[0]) ** 2 + 1.0)


def _last(generator_of_steps) -> torch.Tensor:
    return list(generator_of_steps)[-1].xt


@pytest.mark.parametrize("steps", [1, 2, 5, 12, 25])
@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_euler_matches_euler_discrete_scheduler(objective: str, steps: int) -> None:
    diffusion, model, noise, kwargs = _setup(objective)
    grid = (karras_timesteps if steps % 2 else lambda ab, n: ddim_timesteps(ab.shape[0], n))(
        diffusion.schedule.alphas_cumprod, steps)
    scheduler = schedulers.EulerDiscreteScheduler(**kwargs)
    scheduler.set_timesteps(timesteps=grid)
    expected = _diffusers_loop(scheduler, model, _karras_start(scheduler, noise))
    ours = _last(SAMPLERS["euler"].run(model, diffusion, SHAPE, clip_x0=False, timesteps=grid, noise=noise))
    torch.testing.assert_close(ours, expected, rtol=0, atol=TOLERANCE)


# Not 2-3 steps: a Heun step into σ = 0.01 from σ ≥ 3 loses 3e-4-7e-4 to float32 rounding of the VE state
# (x ~ σ) in both implementations alike, each that far from a float64 run; at 4 steps both are within 5e-5.
@pytest.mark.parametrize("steps", [1, 4, 5, 12])
@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_heun_matches_heun_discrete_scheduler(objective: str, steps: int) -> None:
    diffusion, model, noise, kwargs = _setup(objective)
    grid = ddim_timesteps(diffusion.num_timesteps, steps)
    scheduler = schedulers.HeunDiscreteScheduler(**kwargs)
    scheduler.set_timesteps(timesteps=grid)
    assert len(scheduler.timesteps) == 2 * steps - 1  # diffusers' NFE agrees with ours
    expected = _diffusers_loop(scheduler, model, _karras_start(scheduler, noise))
    ours = _last(SAMPLERS["heun"].run(model, diffusion, SHAPE, clip_x0=False, timesteps=grid, noise=noise))
    torch.testing.assert_close(ours, expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("steps", [2, 5, 12])
@pytest.mark.parametrize("objective", ["eps", "v"])  # diffusers' ancestral Euler has no x0 prediction
def test_euler_ancestral_matches_euler_ancestral_discrete_scheduler(objective: str, steps: int) -> None:
    diffusion, model, noise, kwargs = _setup(objective)
    grid = ddim_timesteps(diffusion.num_timesteps, steps)
    scheduler = schedulers.EulerAncestralDiscreteScheduler(**kwargs)
    scheduler.set_timesteps(steps)  # it takes no custom timesteps: install the grid and its σ by hand
    scheduler.timesteps = torch.tensor(grid, dtype=torch.float32)
    alphas_cumprod = diffusion.schedule.alphas_cumprod[grid]
    scheduler.sigmas = torch.cat([((1 - alphas_cumprod) / alphas_cumprod).sqrt(), torch.zeros(1)]).float()
    expected = _diffusers_loop(scheduler, model, _karras_start(scheduler, noise),
                               generator=torch.Generator().manual_seed(3))
    ours = _last(SAMPLERS["euler_ancestral"].run(model, diffusion, SHAPE, clip_x0=False, timesteps=grid,
                                                 noise=noise, generator=torch.Generator().manual_seed(3)))
    torch.testing.assert_close(ours, expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("steps", [1, 2, 3, 7, 20])
@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_dpm_solver_2m_matches_dpm_solver_multistep_scheduler(objective: str, steps: int) -> None:
    diffusion, model, noise, kwargs = _setup(objective)
    scheduler = schedulers.DPMSolverMultistepScheduler(**kwargs)  # defaults: dpmsolver++, order 2, midpoint
    scheduler.set_timesteps(steps)
    grid = dpm_timesteps(diffusion.num_timesteps, steps)
    assert scheduler.timesteps.tolist() == grid  # diffusers' default grid is our "linspace" spacing
    expected = _diffusers_loop(scheduler, model, noise)
    ours = _last(SAMPLERS["dpmpp_2m"].run(model, diffusion, SHAPE, clip_x0=False, timesteps=grid, noise=noise))
    torch.testing.assert_close(ours, expected, rtol=0, atol=TOLERANCE)


# The linear schedule: with the cosine one (ᾱ_T = 6e-8) diffusers' float32 ᾱ alone moves x̂_0 by ~1e-4.
@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m"])
def test_learned_variance_models_use_the_mean_part(sampler: str) -> None:
    diffusion, model, noise, kwargs = _setup("eps", T=200, learned=True)
    steps = 6
    if sampler == "dpmpp_2m":
        scheduler = schedulers.DPMSolverMultistepScheduler(**kwargs, variance_type="learned_range")
        scheduler.set_timesteps(steps)
        expected = _diffusers_loop(scheduler, model, noise)
        grid = dpm_timesteps(diffusion.num_timesteps, steps)
        ours = _last(SAMPLERS["dpmpp_2m"].run(model, diffusion, SHAPE, clip_x0=False, timesteps=grid, noise=noise))
    else:
        cls = schedulers.EulerDiscreteScheduler if sampler == "euler" else schedulers.HeunDiscreteScheduler
        scheduler = cls(**kwargs)
        grid = karras_timesteps(diffusion.schedule.alphas_cumprod, steps)
        scheduler.set_timesteps(timesteps=grid)
        expected = _diffusers_loop(scheduler, model, _karras_start(scheduler, noise))
        run = SAMPLERS[sampler].run
        ours = _last(run(model, diffusion, SHAPE, steps=steps, clip_x0=False, noise=noise))  # default grid: Karras's
    torch.testing.assert_close(ours, expected, rtol=0, atol=TOLERANCE)
