"""GaussianDiffusion: the schedule plus the maths that turns a network output into predictions and losses.

The network is only ever called as ``model(x_t, t)`` (diffusers' scheduler/model split). Its output is
read according to ``DiffusionConfig.objective`` (ε, x_0 or v) and, with a learned variance, its second
half of channels interpolates the log-variance between β_t and β̃_t (Nichol & Dhariwal 2021, eq. 15).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.forward import (
    extract,
    predict_eps_from_v,
    predict_eps_from_x0,
    predict_x0_from_eps,
    predict_x0_from_v,
    q_posterior_mean_variance,
    q_sample,
    velocity,
)
from ddpm_studio.engine.losses import decoder_nll_bits_per_dim, kl_bits_per_dim, min_snr_weight, regression_loss
from ddpm_studio.engine.schedules import NoiseSchedule, make_schedule, schedule_from_betas

Model = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class ModelPrediction:
    """What the network says about x_t: the noise, the clean image and (if learned) the log-variance."""

    eps: Tensor  # (B, ...) like x_t: (B, C, H, W) images, (B, 2) points
    x0: Tensor  # (B, ...)
    log_variance: Tensor | None  # (B, ...) when the variance is learned, else None


@dataclass(frozen=True)
class LossTerms:
    """Per-sample losses, each (B,): ``loss = simple + λ·vlb`` (vlb is None without a learned variance)."""

    loss: Tensor
    simple: Tensor  # L_simple: the regression loss on the objective's target
    vlb: Tensor | None  # T·L_t in bits/dim: an unbiased one-sample estimate of L_vlb (L_0 at t = 0)


class GaussianDiffusion:
    """Forward process, model parameterisation and training losses for one :class:`DiffusionConfig`."""

    def __init__(self, config: DiffusionConfig, *, betas: Tensor | None = None) -> None:
        """``betas`` (T,), when given, replace the named schedule's: a model from elsewhere (a diffusers
        scheduler's own β_t) keeps exactly the process it was trained with."""
        config.validate()
        self.config = config
        if betas is None:
            self.schedule: NoiseSchedule = make_schedule(config.schedule, config.timesteps)  # float64, CPU
        else:
            if betas.ndim != 1 or betas.shape[0] != config.timesteps:
                raise ValueError(f"betas must be a 1-D tensor of T = {config.timesteps} values, got shape "
                                 f"{tuple(betas.shape)}")
            self.schedule = schedule_from_betas(config.schedule, betas)

    @property
    def num_timesteps(self) -> int:
        return self.schedule.timesteps

    def schedule_for(self, x: Tensor) -> NoiseSchedule:
        """The schedule on ``x``'s device, float64 (float32 on MPS, which lacks float64), cached."""
        dtype = torch.float32 if x.device.type == "mps" else torch.float64
        return self.schedule.to(x.device, dtype)

    # ---- reading the network output ------------------------------------------------------------------

    def _call_model(self, model: Model, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor | None]:
        """Run ``model(x_t, t)``; split off the variance channels when learned. Output cast to x_t's dtype.

        Dimension 1 is the channel dimension of any (B, C, ...) x_t: an image's colours, a point's coordinates."""
        out = model(xt, t)
        channels = xt.shape[1]
        expected = 2 * channels if self.config.learned_variance else channels
        if out.shape != (xt.shape[0], expected, *xt.shape[2:]):
            raise ValueError(
                f"model returned shape {tuple(out.shape)} for input {tuple(xt.shape)}; expected {expected} "
                f"channels (learned_variance={self.config.learned_variance})"
            )
        out = out.to(xt.dtype)
        if not self.config.learned_variance:
            return out, None
        return out[:, :channels], out[:, channels:]

    def _eps_and_x0(self, schedule: NoiseSchedule, pred: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Both ε and x_0 from the network's prediction of the objective's target (eq. 4 / v-identities)."""
        objective = self.config.objective
        if objective == "eps":
            return pred, predict_x0_from_eps(schedule, xt, t, pred)
        if objective == "x0":
            return predict_eps_from_x0(schedule, xt, t, pred), pred
        return predict_eps_from_v(schedule, xt, t, pred), predict_x0_from_v(schedule, xt, t, pred)

    def interpolated_log_variance(self, schedule: NoiseSchedule, var_values: Tensor, t: Tensor) -> Tensor:
        """Improved DDPM eq. (15): log Σ = v log β_t + (1 - v) log β̃_t with v = (output + 1) / 2."""
        min_log = extract(schedule.posterior_log_variance_clipped, t, var_values.shape)
        max_log = extract(schedule.betas, t, var_values.shape).log()
        frac = (var_values + 1.0) / 2.0
        log_variance = frac * max_log + (1.0 - frac) * min_log
        return log_variance.to(var_values.dtype)

    def predict(self, model: Model, xt: Tensor, t: Tensor, *, clip_x0: bool = False) -> ModelPrediction:
        """Call ``model(x_t, t)`` once and return ε, x_0 (optionally clipped to [-1, 1]) and the log-variance.

        When clipping, ε is recomputed from the clipped x_0 so that (ε, x_0) stay consistent with x_t.
        """
        schedule = self.schedule_for(xt)
        pred, var_values = self._call_model(model, xt, t)
        eps, x0 = self._eps_and_x0(schedule, pred, xt, t)
        if clip_x0:
            x0 = x0.clamp(-1.0, 1.0)
            eps = predict_eps_from_x0(schedule, xt, t, x0)
        log_variance = None if var_values is None else self.interpolated_log_variance(schedule, var_values, t)
        return ModelPrediction(eps=eps, x0=x0, log_variance=log_variance)

    # ---- the reverse process p(x_{t-1} | x_t) -------------------------------------------------------------

    def fixed_log_variance(self, variance: str, xt: Tensor, t: Tensor) -> Tensor:
        """log σ_t² of Ho et al. Sec. 3.2: "fixed_small" = β̃_t, "fixed_large" = β_t (β̃_2 at t = 1). (B,1,..)"""
        schedule = self.schedule_for(xt)
        if variance == "fixed_small":
            table = schedule.posterior_log_variance_clipped
        elif variance == "fixed_large":
            first = schedule.posterior_variance[1:2] if schedule.timesteps > 1 else schedule.betas[:1]
            table = torch.log(torch.cat([first, schedule.betas[1:]]))
        else:
            raise ValueError(f"unknown variance {variance!r}; choose fixed_small or fixed_large")
        return extract(table, t, xt.shape).to(xt.dtype)

    def p_mean_variance(
        self, model: Model, xt: Tensor, t: Tensor, *, clip_x0: bool = True, variance: str = "fixed_small"
    ) -> tuple[Tensor, Tensor, ModelPrediction]:
        """Mean μ_θ = μ̃_t(x_t, x̂_0) (eqs. 7, 11) and log-variance of p_θ(x_{t-1} | x_t); learned wins if present."""
        prediction = self.predict(model, xt, t, clip_x0=clip_x0)
        mean, _, _ = q_posterior_mean_variance(self.schedule_for(xt), prediction.x0, xt, t)
        log_variance = prediction.log_variance
        if log_variance is None:
            log_variance = self.fixed_log_variance(variance, xt, t)
        return mean, log_variance, prediction

    # ---- training --------------------------------------------------------------------------------------

    def vlb_terms(self, x0: Tensor, xt: Tensor, t: Tensor, x0_pred: Tensor, log_variance: Tensor) -> Tensor:
        """Per-sample L_t in bits/dim (Ho et al. eq. 5): KL(q(x_{t-1}|x_t,x_0) || p_θ(x_{t-1}|x_t)) for t > 0,
        and the discretized decoder's L_0 = -log p_θ(x_0|x_1) at t = 0."""
        schedule = self.schedule_for(x0)
        true_mean, _, true_log_variance = q_posterior_mean_variance(schedule, x0, xt, t)
        model_mean, _, _ = q_posterior_mean_variance(schedule, x0_pred, xt, t)
        kl = kl_bits_per_dim(true_mean, true_log_variance, model_mean, log_variance)
        nll = decoder_nll_bits_per_dim(x0, model_mean, log_variance)
        return torch.where(t.to(x0.device) == 0, nll, kl)

    def training_losses(self, model: Model, x0: Tensor, t: Tensor, *, noise: Tensor) -> LossTerms:
        """L_simple on the objective's target (Ho et al. eq. 14), plus λ·L_vlb when the variance is learned.

        L_hybrid = L_simple + λ L_vlb (Improved DDPM eq. 16), with L_vlb estimated as T·L_t for the sampled t
        and the mean stop-gradiented inside L_vlb so that it only trains the variance (Sec. 3.1).
        """
        schedule = self.schedule_for(x0)
        xt = q_sample(schedule, x0, t, noise)
        pred, var_values = self._call_model(model, xt, t)
        if self.config.objective == "eps":
            target = noise
        elif self.config.objective == "x0":
            target = x0
        else:
            target = velocity(schedule, x0, t, noise)
        simple = regression_loss(self.config.loss, pred, target)
        if self.config.snr_gamma > 0:  # min-SNR-γ weighting (Hang et al. 2023)
            snr = extract(schedule.alphas_cumprod / (1.0 - schedule.alphas_cumprod), t, simple.shape)
            simple = simple * min_snr_weight(snr, self.config.snr_gamma, self.config.objective).to(simple.dtype)
        if var_values is None:
            return LossTerms(loss=simple, simple=simple, vlb=None)
        _, x0_frozen = self._eps_and_x0(schedule, pred.detach(), xt, t)
        log_variance = self.interpolated_log_variance(schedule, var_values, t)
        vlb = self.num_timesteps * self.vlb_terms(x0, xt, t, x0_frozen, log_variance)
        return LossTerms(loss=simple + self.config.vlb_weight * vlb, simple=simple, vlb=vlb)
