"""The forward process q(x_t | x_0), its posterior q(x_{t-1} | x_t, x_0) and the ε / x_0 / v conversions.

Closed forms from Ho et al. 2020 (eqs. 4, 6, 7, 11) and Salimans & Ho 2022 (v-parameterisation, Sec. 4).
Every function takes the schedule explicitly and a timestep tensor ``t`` of shape (B,) holding 0-based
indices (index 0 is the paper's t = 1). Coefficients are gathered from the schedule (float64 unless cast)
and then cast to the dtype and device of the image tensor, so float32 images stay float32.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ddpm_studio.engine.schedules import NoiseSchedule


def extract(a: Tensor, t: Tensor, shape: torch.Size | tuple[int, ...]) -> Tensor:
    """Gather ``a[t]`` (on ``a``'s device) and reshape to (B, 1, ..., 1) to broadcast against ``shape``."""
    if t.ndim != 1:
        raise ValueError(f"t must be a 1-D tensor of timesteps, got shape {tuple(t.shape)}")
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise ValueError(f"t must hold integer timestep indices, got dtype {t.dtype}")
    if len(shape) < 1 or t.shape[0] != shape[0]:
        raise ValueError(f"t has {t.shape[0]} entries but the batch has shape {tuple(shape)}")
    out = a.gather(0, t.to(device=a.device, dtype=torch.long))
    return out.reshape(t.shape[0], *((1,) * (len(shape) - 1)))


def _coef(a: Tensor, t: Tensor, x: Tensor) -> Tensor:
    """``extract`` cast to ``x``'s dtype and device."""
    return extract(a, t, x.shape).to(device=x.device, dtype=x.dtype)


def _check_same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}")


def q_sample(schedule: NoiseSchedule, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
    """Sample x_t ~ q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I), Ho et al. eq. (4), as √ᾱ_t x_0 + √(1-ᾱ_t) ε."""
    _check_same_shape("noise", noise, "x0", x0)
    return (
        _coef(schedule.sqrt_alphas_cumprod, t, x0) * x0
        + _coef(schedule.sqrt_one_minus_alphas_cumprod, t, x0) * noise
    )


def q_mean_variance(schedule: NoiseSchedule, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mean √ᾱ_t x_0, variance 1 - ᾱ_t and log-variance of q(x_t | x_0), eq. (4); variances are (B,1,..)."""
    mean = _coef(schedule.sqrt_alphas_cumprod, t, x0) * x0
    variance = _coef(1.0 - schedule.alphas_cumprod, t, x0)
    log_variance = _coef(torch.log1p(-schedule.alphas_cumprod), t, x0)
    return mean, variance, log_variance


def q_posterior_mean_variance(
    schedule: NoiseSchedule, x0: Tensor, xt: Tensor, t: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Mean μ̃_t(x_t, x_0), variance β̃_t and clipped log β̃_t of q(x_{t-1} | x_t, x_0), eqs. (6)-(7)."""
    _check_same_shape("x0", x0, "xt", xt)
    mean = _coef(schedule.posterior_mean_coef1, t, xt) * x0 + _coef(schedule.posterior_mean_coef2, t, xt) * xt
    variance = _coef(schedule.posterior_variance, t, xt)
    log_variance = _coef(schedule.posterior_log_variance_clipped, t, xt)
    return mean, variance, log_variance


def predict_x0_from_eps(schedule: NoiseSchedule, xt: Tensor, t: Tensor, eps: Tensor) -> Tensor:
    """x_0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t, eq. (4) solved for x_0."""
    _check_same_shape("eps", eps, "xt", xt)
    return _coef(schedule.sqrt_recip_alphas_cumprod, t, xt) * xt - _coef(
        schedule.sqrt_recipm1_alphas_cumprod, t, xt
    ) * eps


def predict_eps_from_x0(schedule: NoiseSchedule, xt: Tensor, t: Tensor, x0: Tensor) -> Tensor:
    """ε = (x_t - √ᾱ_t x_0) / √(1-ᾱ_t), eq. (4) solved for ε."""
    _check_same_shape("x0", x0, "xt", xt)
    return (_coef(schedule.sqrt_recip_alphas_cumprod, t, xt) * xt - x0) / _coef(
        schedule.sqrt_recipm1_alphas_cumprod, t, xt
    )


def velocity(schedule: NoiseSchedule, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
    """v = √ᾱ_t ε - √(1-ᾱ_t) x_0 (Salimans & Ho 2022, Sec. 4)."""
    _check_same_shape("eps", eps, "x0", x0)
    return _coef(schedule.sqrt_alphas_cumprod, t, x0) * eps - _coef(
        schedule.sqrt_one_minus_alphas_cumprod, t, x0
    ) * x0


def predict_x0_from_v(schedule: NoiseSchedule, xt: Tensor, t: Tensor, v: Tensor) -> Tensor:
    """x_0 = √ᾱ_t x_t - √(1-ᾱ_t) v (uses ᾱ_t + (1 - ᾱ_t) = 1)."""
    _check_same_shape("v", v, "xt", xt)
    return _coef(schedule.sqrt_alphas_cumprod, t, xt) * xt - _coef(
        schedule.sqrt_one_minus_alphas_cumprod, t, xt
    ) * v


def predict_eps_from_v(schedule: NoiseSchedule, xt: Tensor, t: Tensor, v: Tensor) -> Tensor:
    """ε = √(1-ᾱ_t) x_t + √ᾱ_t v."""
    _check_same_shape("v", v, "xt", xt)
    return _coef(schedule.sqrt_one_minus_alphas_cumprod, t, xt) * xt + _coef(
        schedule.sqrt_alphas_cumprod, t, xt
    ) * v
