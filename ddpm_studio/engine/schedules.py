"""Noise schedules β_1..β_T and every quantity derived from them, computed once in float64.

Names follow Ho et al. 2020 ("DDPM") and improved-diffusion's ``gaussian_diffusion.py``:
α_t = 1 - β_t, ᾱ_t = ∏_{s≤t} α_s (``alphas_cumprod``), the posterior q(x_{t-1} | x_t, x_0) of eqs. (6)-(7),
and the signal-to-noise ratio SNR(t) = ᾱ_t / (1 - ᾱ_t). Index 0 of every tensor is the paper's t = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

SCHEDULE_NAMES: tuple[str, ...] = ("linear", "cosine", "sigmoid", "quadratic")

MAX_BETA = 0.999  # Nichol & Dhariwal 2021, Sec. 3.2: clip β_t to avoid singularities near t = T

_TENSOR_FIELDS = (
    "betas",
    "alphas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "sqrt_recip_alphas",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
    "snr",
    "log_snr",
)


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """An immutable noise schedule: every tensor is 1-D of length T (read-only by convention)."""

    name: str
    timesteps: int  # T
    betas: Tensor  # β_t
    alphas: Tensor  # α_t = 1 - β_t
    alphas_cumprod: Tensor  # ᾱ_t
    alphas_cumprod_prev: Tensor  # ᾱ_{t-1}, with ᾱ_0 = 1
    sqrt_alphas_cumprod: Tensor  # √ᾱ_t
    sqrt_one_minus_alphas_cumprod: Tensor  # √(1 - ᾱ_t)
    sqrt_recip_alphas_cumprod: Tensor  # 1/√ᾱ_t
    sqrt_recipm1_alphas_cumprod: Tensor  # √(1/ᾱ_t - 1)
    sqrt_recip_alphas: Tensor  # 1/√α_t
    posterior_variance: Tensor  # β̃_t, eq. (7)
    posterior_log_variance_clipped: Tensor  # log β̃_t with β̃_1 (= 0) replaced by β̃_2
    posterior_mean_coef1: Tensor  # coefficient of x_0 in μ̃_t, eq. (7)
    posterior_mean_coef2: Tensor  # coefficient of x_t in μ̃_t, eq. (7)
    snr: Tensor  # ᾱ_t / (1 - ᾱ_t)
    log_snr: Tensor  # log SNR(t)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def device(self) -> torch.device:
        return self.betas.device

    @property
    def dtype(self) -> torch.dtype:
        return self.betas.dtype

    def to(self, device: torch.device | str | None, dtype: torch.dtype = torch.float32) -> "NoiseSchedule":
        """Return a copy cast to ``device``/``dtype``; copies are cached, so repeated calls are free."""
        device = torch.device(device) if device is not None else self.device
        if device == self.device and dtype == self.dtype:
            return self
        key = (str(device), dtype)
        cached = self._cache.get(key)
        if cached is None:
            moved = {name: getattr(self, name).to(device=device, dtype=dtype) for name in _TENSOR_FIELDS}
            cached = replace(self, **moved, _cache={})
            self._cache[key] = cached
        return cached

    def __len__(self) -> int:
        return self.timesteps

    def __repr__(self) -> str:
        return (f"NoiseSchedule(name={self.name!r}, timesteps={self.timesteps}, dtype={self.dtype}, "
                f"device={self.device})")


def _linear_betas(timesteps: int) -> Tensor:
    """Ho et al. 2020: β from 1e-4 to 0.02 for T = 1000, rescaled by 1000/T (improved-diffusion)."""
    scale = 1000.0 / timesteps
    return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)


def _quadratic_betas(timesteps: int) -> Tensor:
    """β linear in √β between the linear schedule's endpoints (diffusers' "scaled_linear")."""
    scale = 1000.0 / timesteps
    root = torch.linspace(math.sqrt(scale * 1e-4), math.sqrt(scale * 0.02), timesteps, dtype=torch.float64)
    return root**2


def _betas_from_alpha_bar(alpha_bar: Tensor) -> Tensor:
    """β_t = 1 - ᾱ(t/T) / ᾱ((t-1)/T) for a continuous ᾱ sampled at T + 1 points (Nichol & Dhariwal eq. 17)."""
    return 1.0 - alpha_bar[1:] / alpha_bar[:-1]


def _cosine_betas(timesteps: int, s: float = 0.008) -> Tensor:
    """Nichol & Dhariwal 2021 eq. (17): ᾱ(t) = f(t)/f(0), f(t) = cos²(((t/T + s)/(1 + s))·π/2)."""
    u = torch.linspace(0.0, 1.0, timesteps + 1, dtype=torch.float64)
    f = torch.cos((u + s) / (1.0 + s) * math.pi / 2.0) ** 2
    return _betas_from_alpha_bar(f / f[0])


def _sigmoid_betas(timesteps: int, start: float = -3.0, end: float = 3.0, tau: float = 1.0) -> Tensor:
    """Jabri et al. 2022 (RIN): ᾱ(t) = (σ(end/τ) - σ((t(end - start) + start)/τ)) / (σ(end/τ) - σ(start/τ))."""
    u = torch.linspace(0.0, 1.0, timesteps + 1, dtype=torch.float64)
    v_start = torch.sigmoid(torch.tensor(start / tau, dtype=torch.float64))
    v_end = torch.sigmoid(torch.tensor(end / tau, dtype=torch.float64))
    alpha_bar = (v_end - torch.sigmoid((u * (end - start) + start) / tau)) / (v_end - v_start)
    return _betas_from_alpha_bar(alpha_bar / alpha_bar[0])


_BETA_FUNCTIONS = {
    "linear": _linear_betas,
    "cosine": _cosine_betas,
    "sigmoid": _sigmoid_betas,
    "quadratic": _quadratic_betas,
}


def schedule_from_betas(name: str, betas: Tensor) -> NoiseSchedule:
    """Derive every quantity of a schedule from its β_t (improved-diffusion's ``GaussianDiffusion.__init__``)."""
    betas = betas.to(torch.float64).clamp(max=MAX_BETA)
    if betas.ndim != 1 or betas.numel() < 1:
        raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}")
    if not bool(((betas > 0) & (betas < 1)).all()):
        raise ValueError("betas must lie in (0, 1)")
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    one_minus = 1.0 - alphas_cumprod
    # eq. (7): β̃_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · β_t; β̃_1 = 0, so its log is clipped to β̃_2 (or β_1 if T = 1).
    posterior_variance = betas * (1.0 - alphas_cumprod_prev) / one_minus
    first = posterior_variance[1:2] if betas.numel() > 1 else betas[:1]
    posterior_log_variance_clipped = torch.log(torch.cat([first, posterior_variance[1:]]))
    return NoiseSchedule(
        name=name,
        timesteps=int(betas.numel()),
        betas=betas,
        alphas=alphas,
        alphas_cumprod=alphas_cumprod,
        alphas_cumprod_prev=alphas_cumprod_prev,
        sqrt_alphas_cumprod=alphas_cumprod.sqrt(),
        sqrt_one_minus_alphas_cumprod=one_minus.sqrt(),
        sqrt_recip_alphas_cumprod=alphas_cumprod.rsqrt(),
        sqrt_recipm1_alphas_cumprod=(1.0 / alphas_cumprod - 1.0).sqrt(),
        sqrt_recip_alphas=alphas.rsqrt(),
        posterior_variance=posterior_variance,
        posterior_log_variance_clipped=posterior_log_variance_clipped,
        posterior_mean_coef1=betas * alphas_cumprod_prev.sqrt() / one_minus,
        posterior_mean_coef2=(1.0 - alphas_cumprod_prev) * alphas.sqrt() / one_minus,
        snr=alphas_cumprod / one_minus,
        log_snr=torch.log(alphas_cumprod) - torch.log(one_minus),
    )


def make_schedule(name: str, timesteps: int) -> NoiseSchedule:
    """Build the named schedule with T = ``timesteps`` steps (float64, β clipped at 0.999)."""
    if name not in _BETA_FUNCTIONS:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULE_NAMES)}")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be an integer >= 1, got {timesteps!r}")
    return schedule_from_betas(name, _BETA_FUNCTIONS[name](timesteps))

