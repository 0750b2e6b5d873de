"""min-SNR-γ loss weighting (Hang et al. 2023): the same weight on the x_0 error whatever the objective."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.forward import extract
from ddpm_studio.engine.losses import min_snr_weight


def test_weights_for_each_objective():
    snr = torch.tensor([0.0, 0.5, 5.0, 50.0], dtype=torch.float64)
    gamma = 5.0
    assert torch.allclose(min_snr_weight(snr, gamma, "x0"), torch.tensor([0.0, 0.5, 5.0, 5.0], dtype=torch.float64))
    assert torch.allclose(min_snr_weight(snr, gamma, "eps"), torch.tensor([1.0, 1.0, 1.0, 0.1], dtype=torch.float64))
    assert torch.allclose(min_snr_weight(snr, gamma, "v"), torch.minimum(snr, torch.tensor(gamma)) / (snr + 1))
    assert torch.equal(min_snr_weight(snr, 0.0, "v"), torch.ones(4, dtype=torch.float64))


@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_weighted_losses_equal_min_snr_times_the_x0_error(objective):
    # a "network" that returns a fixed wrong output: every objective's weighted loss must equal min(SNR, γ)·‖x̂_0 − x_0‖²
    torch.manual_seed(0)
    gamma = 5.0
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="cosine", timesteps=50, objective=objective,
                                                  snr_gamma=gamma))
    x0 = torch.rand(6, 3, 4, 4, dtype=torch.float64) * 2 - 1
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 5, 15, 25, 40, 49])
    output = torch.randn_like(x0)
    terms = diffusion.training_losses(lambda xt, tt: output, x0, t, noise=noise)
    prediction = diffusion.predict(lambda xt, tt: output, diffusion_xt(diffusion, x0, t, noise), t)
    schedule = diffusion.schedule_for(x0)
    snr = extract(schedule.alphas_cumprod / (1 - schedule.alphas_cumprod), t, (6,))
    x0_error = ((prediction.x0 - x0) ** 2).mean(dim=(1, 2, 3))
    assert torch.allclose(terms.loss, snr.clamp(max=gamma) * x0_error, rtol=1e-6)


def diffusion_xt(diffusion, x0, t, noise):
    from ddpm_studio.engine.forward import q_sample

    return q_sample(diffusion.schedule_for(x0), x0, t, noise)


def test_bad_gamma_is_refused():
    with pytest.raises(ValueError, match="snr_gamma"):
        DiffusionConfig(snr_gamma=-1.0).validate()
