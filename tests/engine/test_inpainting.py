"""Inpainting (engine/inpainting.py): the known pixels of every fill equal the input exactly, a mask that keeps
nothing is plain sampling from the same noise, and RePaint's schedule costs what inpaint_nfe says -- for every
sampler of the table."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.engine import SAMPLERS
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.inpainting import RePaintConfig, inpaint, inpaint_nfe

T = 30


class _Counting(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return 0.3 * torch.tanh(x) + 0.01 * t.float().view(-1, *([1] * (x.dim() - 1)))


def _setup():
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=T))
    x0 = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(0)) * 2 - 1
    known = torch.zeros(1, 1, 6, 6)
    known[..., :3] = 1.0  # the left half is known
    return diffusion, x0, known


@pytest.mark.parametrize("method", SAMPLERS.names())
@pytest.mark.parametrize("resample", [1, 3])
def test_the_known_pixels_of_the_output_are_the_input(method, resample):
    diffusion, x0, known = _setup()
    steps = list(inpaint(_Counting(), diffusion, x0, known, method=method, steps=8,
                         repaint=RePaintConfig(jump_length=3, resample=resample),
                         generator=torch.Generator().manual_seed(1),
                         constraint_generator=torch.Generator().manual_seed(2)))
    out = steps[-1].xt
    assert torch.equal(out[..., :3], x0[..., :3])
    assert not torch.allclose(out[..., 3:], x0[..., 3:])  # the unknown half is made, not copied
    assert steps[-1].index == steps[-1].num_steps - 1 == len(steps) - 1


@pytest.mark.parametrize("method", SAMPLERS.names())
def test_a_mask_that_keeps_nothing_is_plain_sampling_from_the_same_noise(method):
    diffusion, x0, _ = _setup()
    x_T = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5))
    plain = list(SAMPLERS[method].run(_Counting(), diffusion, x0.shape, steps=8, noise=x_T, clip_x0=True,
                                      generator=torch.Generator().manual_seed(6)))[-1].xt
    filled = list(inpaint(_Counting(), diffusion, x0, torch.zeros(1, 1, 6, 6), method=method, steps=8, noise=x_T,
                          generator=torch.Generator().manual_seed(6),
                          constraint_generator=torch.Generator().manual_seed(7)))[-1].xt
    assert torch.equal(plain, filled)


@pytest.mark.parametrize("method", ["ddim", "heun", "dpmpp_2m", "ddpm"])
@pytest.mark.parametrize(("jump", "resample"), [(3, 1), (3, 2), (4, 3)])
def test_repaint_costs_what_inpaint_nfe_says(method, jump, resample):
    diffusion, x0, known = _setup()
    model = _Counting()
    config = RePaintConfig(jump_length=jump, resample=resample)
    steps = list(inpaint(model, diffusion, x0, known, method=method, steps=8, repaint=config,
                         generator=torch.Generator().manual_seed(0)))
    assert model.calls == inpaint_nfe(method, 8, T, config)
    n = T if method == "ddpm" else 8
    assert len(steps) == n * resample


def test_bad_masks_and_settings_are_clear_errors():
    diffusion, x0, _ = _setup()
    with pytest.raises(ValueError, match="must broadcast against the images"):
        next(inpaint(_Counting(), diffusion, x0, torch.ones(1, 1, 5, 6)))
    with pytest.raises(ValueError, match="resample must be an integer"):
        next(inpaint(_Counting(), diffusion, x0, torch.ones(1, 1, 6, 6), repaint=RePaintConfig(resample=0)))
