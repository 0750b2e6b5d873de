"""Loss building blocks: per-sample regression losses, Gaussian KL, discretized Gaussian likelihood.

The KL and the decoder likelihood follow improved-diffusion's ``losses.py`` (Nichol & Dhariwal 2021,
Sec. 3.1 and Ho et al. 2020, Sec. 3.3). Every reduction here keeps the batch dimension: a (B, ...) input
gives a (B,) loss, so training can report the loss per timestep.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LOSS_NAMES: tuple[str, ...] = ("l2", "l1", "huber")

_LOG2 = math.log(2.0)


def mean_flat(x: Tensor) -> Tensor:
    """Mean over every dimension but the first: (B, ...) -> (B,)."""
    return x.mean(dim=tuple(range(1, x.ndim))) if x.ndim > 1 else x


def regression_loss(name: str, prediction: Tensor, target: Tensor) -> Tensor:
    """Per-sample L2 (MSE), L1 or Huber (δ = 1) loss averaged over all but the batch dimension: (B, ...) -> (B,)."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction has shape {tuple(prediction.shape)} but target has {tuple(target.shape)}")
    if name == "l2":
        elementwise = (prediction - target) ** 2
    elif name == "l1":
        elementwise = (prediction - target).abs()
    elif name == "huber":
        elementwise = F.huber_loss(prediction, target, reduction="none", delta=1.0)
    else:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSS_NAMES)}")
    return mean_flat(elementwise)


def min_snr_weight(snr: Tensor, gamma: float, objective: str) -> Tensor:
    """Per-sample weight of min-SNR-γ weighting (Hang et al. 2023, eq. 10 and Sec. 3.4): (B,) -> (B,).

    The x_0 loss is weighted by w_t = min(SNR(t), γ). The ε and v losses are the x_0 loss already weighted
    by SNR(t) and SNR(t) + 1 (‖ε − ε̂‖² = SNR·‖x_0 − x̂_0‖², ‖v − v̂‖² = (SNR + 1)·‖x_0 − x̂_0‖²), so their
    weights are min(SNR, γ) / SNR and min(SNR, γ) / (SNR + 1). γ = 0 means no weighting (all ones).
    """
    if gamma == 0:
        return torch.ones_like(snr)
    clipped = snr.clamp(max=gamma)
    if objective == "eps":
        return (gamma / snr).clamp(max=1.0)  # = min(SNR, γ) / SNR, and 1 (not 0/0) where SNR = 0
    if objective == "x0":
        return clipped
    if objective == "v":
        return clipped / (snr + 1.0)
    raise ValueError(f"unknown objective {objective!r}")


def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """Elementwise KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) in nats (broadcasting)."""
    return 0.5 * (
        -1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2)
    )


def approx_standard_normal_cdf(x: Tensor) -> Tensor:
    """Φ(x) via the tanh approximation used by improved-diffusion (Page 1977)."""
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def discretized_gaussian_log_likelihood(x: Tensor, *, means: Tensor, log_scales: Tensor) -> Tensor:
    """Elementwise log p(x) for data in [-1, 1] quantised to 256 bins of width 2/255 (Ho et al. eq. 13).

    ``log_scales`` is the log standard deviation (half the log-variance). The outermost bins extend to ±∞.
    """
    if x.shape != means.shape:
        raise ValueError(f"x has shape {tuple(x.shape)} but means has {tuple(means.shape)}")
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_cdf_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(
        x < -0.999,
        log_cdf_plus,
        torch.where(x > 0.999, log_one_minus_cdf_min, log_cdf_delta),
    )


def kl_bits_per_dim(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """Per-sample KL of eq. (5)'s L_{t-1} term, averaged over all but the batch dimension, in bits: (B, ...) -> (B,)."""
    return mean_flat(normal_kl(mean1, logvar1, mean2, logvar2)) / _LOG2


def decoder_nll_bits_per_dim(x0: Tensor, means: Tensor, log_variance: Tensor) -> Tensor:
    """Per-sample L_0 = -log p(x_0 | x_1) of the discretized decoder, averaged over all but dim 0, in bits."""
    log_likelihood = discretized_gaussian_log_likelihood(x0, means=means, log_scales=0.5 * log_variance)
    return -mean_flat(log_likelihood) / _LOG2
