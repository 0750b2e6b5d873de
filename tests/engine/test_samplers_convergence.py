"""The analytic case: data x_0 ~ N(μ, s² I), whose ε-prediction and probability-flow ODE are known in closed form.

In the VE variable x = x_t/√ᾱ_t = x_0 + σ ε the marginal is N(μ, (s² + σ²) I), so
E[ε | x_t] = √(1-ᾱ) (x_t - √ᾱ μ) / (ᾱ s² + 1 - ᾱ) and the ODE dx/dσ = ε̂ is solved by
x(σ) = μ + (x(σ_0) - μ) √(s² + σ²) / √(s² + σ_0²). Each sampler integrates from t = T-1 down to a fixed
t_lo (the state before its final jump to σ = 0) and its error against the exact x(σ_lo) must shrink with
the expected order: Euler 1, Heun and DPM-Solver++(2M) 2. Measured (ε and v alike), max error at 6/12/24/48
steps: Euler 0.35/0.17/0.084/0.041 (order 1.03), Heun 0.37/0.065/0.014/0.0033 (2.27), DPM-Solver++(2M)
0.16/0.025/0.0027/0.00016 (3.3: on Gaussian data x̂_0 is so smooth in λ that it beats its nominal order 2).
"""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_studio.engine import SAMPLERS as TABLE
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion

T = 8000  # a fine discrete schedule, so that rounded grids stay nearly uniform
T_LO = 800  # σ ≈ 0.35 for the linear schedule
SCALE = 0.5  # s
STEP_COUNTS = (6, 12, 24, 48)


def _diffusion(objective: str = "eps") -> GaussianDiffusion:
    return GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=T, objective=objective))


def _gaussian_model(diffusion: GaussianDiffusion, mu: torch.Tensor):
    """The exact E[ε | x_t] (as the objective's target) for data N(μ, s² I)."""
    alphas_cumprod = diffusion.schedule.alphas_cumprod

    def model(xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = alphas_cumprod[t].reshape(-1, 1, 1, 1)
        eps = (1 - ab).sqrt() * (xt.double() - ab.sqrt() * mu) / (ab * SCALE**2 + 1 - ab)
        if diffusion.config.objective == "v":
            x0 = (xt.double() - (1 - ab).sqrt() * eps) / ab.sqrt()
            return (ab.sqrt() * eps - (1 - ab).sqrt() * x0).float()
        return eps.float()

    return model


def _grid(steps: int) -> list[int]:
    return torch.linspace(T_LO, T - 1, steps, dtype=torch.float64).round().long().flip(0).tolist()


def _exact(diffusion: GaussianDiffusion, mu: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The exact VP state at t_lo from x_T = noise at t = T-1."""
    ab = diffusion.schedule.alphas_cumprod
    sigma0, sigma_lo = (math.sqrt((1 - ab[t]) / ab[t]) for t in (T - 1, T_LO))
    x_ve = noise.double() / ab[T - 1].sqrt()
    x_lo = mu + (x_ve - mu) * math.sqrt(SCALE**2 + sigma_lo**2) / math.sqrt(SCALE**2 + sigma0**2)
    return x_lo * ab[T_LO].sqrt()


SAMPLERS = {name: TABLE[name].run for name in ("euler", "heun", "dpmpp_2m")}


def measured_order(name: str, objective: str = "eps") -> tuple[list[float], float]:
    """Max errors at t_lo for STEP_COUNTS and the fitted order -d log(error) / d log(steps)."""
    diffusion = _diffusion(objective)
    mu = torch.linspace(-0.6, 0.6, 64, dtype=torch.float64).reshape(1, 1, 8, 8)
    noise = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    model, exact = _gaussian_model(diffusion, mu), _exact(diffusion, mu, noise)
    errors = []
    for steps in STEP_COUNTS:
        run = SAMPLERS[name](model, diffusion, noise.shape, clip_x0=False, noise=noise, timesteps=_grid(steps))
        states = list(run)
        errors.append(float((states[-2].xt.double() - exact).abs().max()))
    slope = -torch.tensor(errors).log().diff().div(torch.tensor(STEP_COUNTS, dtype=torch.float64).log().diff())
    return errors, float(slope.mean())


@pytest.mark.parametrize(("name", "low", "high"), [("euler", 0.8, 1.3), ("heun", 1.7, 2.6), ("dpmpp_2m", 1.7, 9.9)])
@pytest.mark.parametrize("objective", ["eps", "v"])
def test_convergence_order_on_the_gaussian(name: str, low: float, high: float, objective: str) -> None:
    errors, order = measured_order(name, objective)
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert low <= order <= high, (errors, order)
