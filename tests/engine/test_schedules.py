"""Noise schedules: lengths, endpoints, monotonicity, derived identities and golden numbers."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from ddpm_studio.engine.schedules import MAX_BETA, SCHEDULE_NAMES, make_schedule

LENGTHS = (1, 2, 7, 100, 1000)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
@pytest.mark.parametrize("T", LENGTHS)
def test_shapes_dtype_and_ranges(name: str, T: int) -> None:
    s = make_schedule(name, T)
    assert s.name == name and s.timesteps == T and len(s) == T
    for field in dataclasses.fields(s):
        value = getattr(s, field.name)
        if isinstance(value, torch.Tensor):
            assert value.dtype == torch.float64, field.name
            assert value.shape == (T,), field.name
            assert torch.isfinite(value).all(), field.name
    assert (s.betas > 0).all() and (s.betas <= MAX_BETA).all()
    assert (s.alphas_cumprod > 0).all() and (s.alphas_cumprod < 1).all()
    # ᾱ strictly decreasing, SNR strictly decreasing, posterior variance in [0, β_t]
    assert (s.alphas_cumprod[1:] < s.alphas_cumprod[:-1]).all()
    assert (s.log_snr[1:] < s.log_snr[:-1]).all()
    assert (s.posterior_variance >= 0).all() and (s.posterior_variance <= s.betas + 1e-15).all()
    assert s.alphas_cumprod_prev[0] == 1.0
    torch.testing.assert_close(s.alphas_cumprod_prev[1:], s.alphas_cumprod[:-1], rtol=0, atol=0)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
@pytest.mark.parametrize("T", (2, 7, 100))
def test_derived_quantities_follow_their_definitions(name: str, T: int) -> None:
    s = make_schedule(name, T)
    ab, ab_prev, b = s.alphas_cumprod, s.alphas_cumprod_prev, s.betas
    close = lambda a, e: torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-14)  # noqa: E731
    close(s.alphas, 1 - b)
    close(ab, torch.cumprod(1 - b, 0))
    close(s.sqrt_alphas_cumprod**2, ab)
    close(s.sqrt_one_minus_alphas_cumprod**2, 1 - ab)
    close(s.sqrt_recip_alphas_cumprod * s.sqrt_alphas_cumprod, torch.ones(T, dtype=torch.float64))
    close(s.sqrt_recipm1_alphas_cumprod**2, 1 / ab - 1)
    close(s.sqrt_recip_alphas**2 * s.alphas, torch.ones(T, dtype=torch.float64))
    close(s.posterior_variance, b * (1 - ab_prev) / (1 - ab))
    close(s.posterior_mean_coef1, b * ab_prev.sqrt() / (1 - ab))
    close(s.posterior_mean_coef2, (1 - ab_prev) * (1 - b).sqrt() / (1 - ab))
    close(s.snr, ab / (1 - ab))
    close(s.log_snr, torch.log(ab / (1 - ab)))
    # β̃_1 = 0, so its log is clipped to log β̃_2 (improved-diffusion).
    assert s.posterior_variance[0] == 0
    close(s.posterior_log_variance_clipped[0], torch.log(s.posterior_variance[1]))
    close(s.posterior_log_variance_clipped[1:], torch.log(s.posterior_variance[1:]))


def test_linear_endpoints_and_scaling() -> None:
    s = make_schedule("linear", 1000)
    assert s.betas[0].item() == pytest.approx(1e-4, rel=1e-12)
    assert s.betas[-1].item() == pytest.approx(0.02, rel=1e-12)
    assert (s.betas[1:] > s.betas[:-1]).all()
    # improved-diffusion: endpoints scaled by 1000/T so that T=500 reaches a similar ᾱ_T.
    half = make_schedule("linear", 500)
    assert half.betas[0].item() == pytest.approx(2e-4, rel=1e-12)
    assert half.betas[-1].item() == pytest.approx(0.04, rel=1e-12)


def test_golden_numbers_linear() -> None:
    s = make_schedule("linear", 1000)
    assert s.alphas_cumprod[-1].item() == pytest.approx(4.0358e-5, rel=1e-4)
    assert s.alphas_cumprod[499].item() == pytest.approx(0.0785872, rel=1e-5)
    assert s.posterior_variance[-1].item() == pytest.approx(0.02 * (1 - 4.0358e-5 / 0.98) / (1 - 4.0358e-5), rel=1e-4)


def test_cosine_matches_closed_form_and_golden_numbers() -> None:
    T, s_off = 1000, 0.008
    s = make_schedule("cosine", T)
    f = lambda u: math.cos((u + s_off) / (1 + s_off) * math.pi / 2) ** 2  # noqa: E731
    # Nichol & Dhariwal eq. (17): ᾱ_t = f(t/T) / f(0) wherever β_t was not clipped.
    unclipped = int((s.betas < MAX_BETA).sum())
    assert unclipped == T - 1  # only the very last β hits the 0.999 clip at T = 1000
    expected = torch.tensor([f((i + 1) / T) / f(0) for i in range(unclipped)], dtype=torch.float64)
    torch.testing.assert_close(s.alphas_cumprod[:unclipped], expected, rtol=1e-10, atol=1e-13)
    assert s.alphas_cumprod[0].item() == pytest.approx(0.99995872, rel=1e-7)
    assert s.alphas_cumprod[499].item() == pytest.approx(0.49384359, rel=1e-7)
    assert s.alphas_cumprod[749].item() == pytest.approx(0.14427210, rel=1e-6)
    assert s.betas[-1].item() == pytest.approx(MAX_BETA)


def test_sigmoid_and_quadratic_endpoints() -> None:
    quad = make_schedule("quadratic", 1000)
    assert quad.betas[0].item() == pytest.approx(1e-4, rel=1e-12)
    assert quad.betas[-1].item() == pytest.approx(0.02, rel=1e-12)
    assert (quad.betas[1:] > quad.betas[:-1]).all()
    root_steps = quad.betas.sqrt()[1:] - quad.betas.sqrt()[:-1]  # √β is linear in t
    torch.testing.assert_close(root_steps, torch.full((999,), (0.02**0.5 - 1e-2) / 999, dtype=torch.float64))
    sig = make_schedule("sigmoid", 1000)
    assert (sig.betas[1:] >= sig.betas[:-1]).all()
    assert sig.betas[-1].item() == pytest.approx(MAX_BETA)
    assert sig.alphas_cumprod[0].item() == pytest.approx(1 - 3.0028e-4, abs=1e-7)


def test_small_T_stays_valid() -> None:
    # Linear endpoints scaled by 1000/T exceed 1 for T < 50: they are clipped at 0.999, never invalid.
    s = make_schedule("linear", 10)
    assert s.betas.max().item() == pytest.approx(MAX_BETA)
    assert s.timesteps == 10 and torch.isfinite(s.posterior_log_variance_clipped).all()
    one = make_schedule("cosine", 1)
    assert one.posterior_variance[0] == 0 and torch.isfinite(one.posterior_log_variance_clipped).all()


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_bad_timesteps_raise(bad: object) -> None:
    with pytest.raises(ValueError, match="timesteps"):
        make_schedule("linear", bad)  # type: ignore[arg-type]


def test_unknown_name_raises() -> None:
    with pytest.raises(ValueError, match="unknown schedule 'exp'.*linear, cosine"):
        make_schedule("exp", 10)


def test_frozen_and_cached_casts() -> None:
    s = make_schedule("cosine", 20)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.betas = torch.zeros(20)  # type: ignore[misc]
    f32 = s.to("cpu", torch.float32)
    assert f32 is s.to(torch.device("cpu"))  # default dtype float32, cached
    assert f32.betas.dtype == torch.float32 and f32.alphas_cumprod.dtype == torch.float32
    assert s.to("cpu", torch.float64) is s
    torch.testing.assert_close(f32.alphas_cumprod, s.alphas_cumprod.float())
    assert s.betas.dtype == torch.float64  # the original is untouched
