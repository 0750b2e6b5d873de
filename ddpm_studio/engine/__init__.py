"""ddpm_studio.engine: the pure-torch core (schedules, forward process, losses, samplers, UNet). No Qt."""

from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion, LossTerms, ModelPrediction
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
from ddpm_studio.engine.grids import GRIDS, ddim_timesteps, fit_steps, make_grid
from ddpm_studio.engine.guidance import autoguided, cfg, steer
from ddpm_studio.engine.losses import discretized_gaussian_log_likelihood, mean_flat, normal_kl, regression_loss
from ddpm_studio.engine.sampler_table import SAMPLERS, SamplerSpec, get_sampler, nfe, sample, steps_for_nfe
from ddpm_studio.engine.samplers import ddim_invert, ddim_sample, ddpm_sample
from ddpm_studio.engine.sampling_common import SamplerStep, draw_x_T
from ddpm_studio.engine.sampling_config import DDPM_VARIANCES, SamplingConfig
from ddpm_studio.engine.schedules import SCHEDULE_NAMES, NoiseSchedule, make_schedule
from ddpm_studio.engine.unet import UNet, build_unet
from ddpm_studio.engine.unet_config import UNET_PRESETS, UNetConfig

__all__ = [
    "DDPM_VARIANCES",
    "GRIDS",
    "SAMPLERS",
    "SCHEDULE_NAMES",
    "SamplerSpec",
    "autoguided",
    "cfg",
    "steer",
    "draw_x_T",
    "fit_steps",
    "get_sampler",
    "make_grid",
    "nfe",
    "steps_for_nfe",
    "DiffusionConfig",
    "GaussianDiffusion",
    "LossTerms",
    "ModelPrediction",
    "NoiseSchedule",
    "SamplerStep",
    "SamplingConfig",
    "UNET_PRESETS",
    "UNet",
    "UNetConfig",
    "build_unet",
    "ddim_invert",
    "ddim_sample",
    "ddim_timesteps",
    "ddpm_sample",
    "discretized_gaussian_log_likelihood",
    "extract",
    "make_schedule",
    "mean_flat",
    "normal_kl",
    "predict_eps_from_v",
    "predict_eps_from_x0",
    "predict_x0_from_eps",
    "predict_x0_from_v",
    "q_mean_variance",
    "q_posterior_mean_variance",
    "q_sample",
    "regression_loss",
    "sample",
    "velocity",
]
