"""Closed forms of the forward process and its posterior, checked against first principles."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_studio.engine.forward import (
    extract,
    predict_eps_from_v,
    predict_eps_from_x0,
    predict_x0_from_eps,
    predict_x0_from_v,
    q_mean_variance,
    q_posterior_mean_variance,
    q_sample,
    velocity,
)
from ddpm_studio.engine.schedules import SCHEDULE_NAMES, make_schedule


def _all_t(T: int, batch: int = 1) -> torch.Tensor:
    return torch.arange(T).repeat_interleave(batch)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_q_moments_equal_the_composed_forward_steps(name: str) -> None:
    """q(x_t|x_0) of eq. (4) is the composition of the steps q(x_t|x_{t-1}) = N(√α_t x_{t-1}, β_t), eq. (2)."""
    T = 50
    s = make_schedule(name, T)
    x0 = torch.tensor([0.7], dtype=torch.float64).reshape(1, 1, 1, 1).expand(T, 1, 1, 1)
    mean, var, log_var = q_mean_variance(s, x0, _all_t(T))
    m, v = 0.7, 0.0  # exact propagation of the Gaussian moments, one step at a time
    for i in range(T):
        a = 1.0 - s.betas[i].item()
        m, v = math.sqrt(a) * m, a * v + s.betas[i].item()
        assert mean[i].item() == pytest.approx(m, rel=1e-10, abs=1e-14)
        assert var[i].item() == pytest.approx(v, rel=1e-10)
        assert log_var[i].item() == pytest.approx(math.log(v), rel=1e-10)


def test_q_sample_matches_iterated_process_in_distribution() -> None:
    """Monte Carlo: x_t from q_sample and from t iterated single steps share mean and variance."""
    T, n = 12, 40000
    s = make_schedule("linear", T)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.full((n, 1, 1, 1), -0.4, dtype=torch.float64)
    x = x0.clone()
    for i in range(T):
        x = s.alphas[i].sqrt() * x + s.betas[i].sqrt() * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    t = torch.full((n,), T - 1, dtype=torch.long)
    direct = q_sample(s, x0, t, torch.randn(x0.shape, generator=gen, dtype=torch.float64))
    mean, var, _ = q_mean_variance(s, x0[:1], t[:1])
    for samples in (x, direct):
        se_mean = math.sqrt(var.item() / n)
        assert samples.mean().item() == pytest.approx(mean.item(), abs=5 * se_mean)
        assert samples.var().item() == pytest.approx(var.item(), rel=5 * math.sqrt(2 / n))


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_posterior_is_the_bayes_product_of_gaussians(name: str) -> None:
    """q(x_{t-1}|x_t,x_0) ∝ q(x_t|x_{t-1}) q(x_{t-1}|x_0): precisions add, means are precision-weighted."""
    T = 40
    s = make_schedule(name, T)
    gen = torch.Generator().manual_seed(1)
    x0 = torch.randn(T, 2, 3, 3, generator=gen, dtype=torch.float64)
    xt = torch.randn(T, 2, 3, 3, generator=gen, dtype=torch.float64)
    mean, var, log_var = q_posterior_mean_variance(s, x0, xt, _all_t(T))
    for i in range(1, T):
        a, b, ab_prev = s.alphas[i].item(), s.betas[i].item(), s.alphas_cumprod_prev[i].item()
        # prior on x_{t-1}: N(√ᾱ_{t-1} x0, 1-ᾱ_{t-1}); likelihood of x_t: N(√α x_{t-1}, β) in x_{t-1}
        precision = 1.0 / (1.0 - ab_prev) + a / b
        expected_mean = (math.sqrt(ab_prev) * x0[i] / (1.0 - ab_prev) + math.sqrt(a) * xt[i] / b) / precision
        torch.testing.assert_close(mean[i], expected_mean, rtol=1e-9, atol=1e-9)
        assert var[i].item() == pytest.approx(1.0 / precision, rel=1e-9)
        assert log_var[i].item() == pytest.approx(-math.log(precision), rel=1e-9)
    # at the first step the posterior collapses onto x0 (ᾱ_0 = 1)
    torch.testing.assert_close(mean[0], x0[0], rtol=1e-12, atol=1e-12)
    assert var[0].item() == 0.0


def test_posterior_matches_monte_carlo_conditioning() -> None:
    """Sample (x_{t-1}, x_t) jointly given x_0; regress x_{t-1} on x_t: slope/intercept/residual = eq. (7)."""
    s = make_schedule("cosine", 10)
    i, n, x0v = 5, 60000, 0.3
    gen = torch.Generator().manual_seed(2)
    ab_prev = s.alphas_cumprod_prev[i].item()
    x_prev = math.sqrt(ab_prev) * x0v + math.sqrt(1 - ab_prev) * torch.randn(n, generator=gen, dtype=torch.float64)
    x_t = s.alphas[i].sqrt() * x_prev + s.betas[i].sqrt() * torch.randn(n, generator=gen, dtype=torch.float64)
    cov = torch.cov(torch.stack([x_prev, x_t]))
    slope = (cov[0, 1] / cov[1, 1]).item()
    residual = (cov[0, 0] - cov[0, 1] ** 2 / cov[1, 1]).item()
    assert slope == pytest.approx(s.posterior_mean_coef2[i].item(), rel=0.02)
    assert residual == pytest.approx(s.posterior_variance[i].item(), rel=0.03)
    intercept = (x_prev.mean() - slope * x_t.mean()).item()
    assert intercept == pytest.approx(s.posterior_mean_coef1[i].item() * x0v, abs=0.02)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_eps_x0_v_conversions_round_trip(name: str) -> None:
    T = 100
    s = make_schedule(name, T)
    gen = torch.Generator().manual_seed(3)
    t = torch.tensor([0, 1, 10, 50, 98, 99])
    x0 = torch.rand(len(t), 3, 4, 4, generator=gen, dtype=torch.float64) * 2 - 1
    eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    xt = q_sample(s, x0, t, eps)
    v = velocity(s, x0, t, eps)
    tol = dict(rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(predict_x0_from_v(s, xt, t, v), x0, **tol)
    torch.testing.assert_close(predict_eps_from_v(s, xt, t, v), eps, **tol)
    # x0 <-> eps divides by √ᾱ_t or √(1-ᾱ_t): exact in float64 except where one of them underflows
    ok = (s.alphas_cumprod[t] > 1e-6) & (s.alphas_cumprod[t] < 1 - 1e-6)
    torch.testing.assert_close(predict_x0_from_eps(s, xt, t, eps)[ok], x0[ok], **tol)
    torch.testing.assert_close(predict_eps_from_x0(s, xt, t, x0)[ok], eps[ok], rtol=1e-6, atol=1e-6)
    # v is a rotation of (eps, x0): ‖v‖² + ‖xt‖² = ‖eps‖² + ‖x0‖² elementwise
    torch.testing.assert_close(v**2 + xt**2, eps**2 + x0**2, **tol)


def test_float32_inputs_stay_float32() -> None:
    s = make_schedule("linear", 10)
    x0 = torch.zeros(2, 1, 4, 4)
    t = torch.tensor([3, 9])
    assert q_sample(s, x0, t, torch.ones_like(x0)).dtype == torch.float32
    mean, var, _ = q_posterior_mean_variance(s, x0, x0, t)
    assert mean.dtype == torch.float32 and var.shape == (2, 1, 1, 1)


def test_extract_shapes_and_errors() -> None:
    a = torch.arange(10, dtype=torch.float64)
    out = extract(a, torch.tensor([2, 7]), torch.Size([2, 3, 4, 4]))
    assert out.shape == (2, 1, 1, 1) and out.flatten().tolist() == [2.0, 7.0]
    assert extract(a, torch.tensor([1]), (1, 5)).shape == (1, 1)
    with pytest.raises(ValueError, match="1-D"):
        extract(a, torch.tensor([[1]]), (1, 3))
    with pytest.raises(ValueError, match="integer"):
        extract(a, torch.tensor([1.0]), (1, 3))
    with pytest.raises(ValueError, match="batch"):
        extract(a, torch.tensor([1, 2, 3]), (2, 3))
    with pytest.raises(ValueError, match="noise has shape"):
        q_sample(make_schedule("linear", 10), torch.zeros(2, 1, 2, 2), torch.tensor([0, 1]), torch.zeros(2, 1, 2, 3))
