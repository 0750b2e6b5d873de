"""The numbers behind each 2-D lab preset's caption, on small versions of the presets (fewer points and steps)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ddpm_studio.app.lab import Lab, LabConfig, SamplerChoice, class_spread, swd_points
from ddpm_studio.app.lab_presets import PRESETS, VIEWS, get_preset
from ddpm_studio.engine import SAMPLERS
from ddpm_studio.engine.point_mlp import PointMLPConfig


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small(config: LabConfig, **changes) -> LabConfig:
    """The preset's lab, shrunk: 32 units, T = 50, 400 points."""
    diffusion = replace(config.diffusion, timesteps=50)
    return replace(config, model=PointMLPConfig(width=32, blocks=2), diffusion=diffusion, batch_size=128,
                   lr=3e-3, **{"points": min(config.points, 400), **changes})


@pytest.fixture(scope="module")
def trained() -> Lab:
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        lab = Lab(small(LabConfig()))
        lab.train(500)
    return lab


def test_every_preset_is_well_formed() -> None:
    assert len({p.name for p in PRESETS}) == len(PRESETS) >= 5
    for preset in PRESETS:
        preset.config.validate()
        assert preset.view in VIEWS and "\n" not in preset.caption and preset.caption.endswith(".")
        for choice in (preset.left, preset.right):
            assert choice.method in SAMPLERS
        assert 0 <= preset.t(preset.config.diffusion.timesteps) < preset.config.diffusion.timesteps
    with pytest.raises(ValueError, match="preset must be one of schedules"):
        get_preset("nope")


def test_schedules_linear_reaches_noise_sooner_than_cosine() -> None:
    preset = get_preset("schedules")
    lab = Lab(replace(preset.config, points=400))
    t = preset.t(lab.diffusion.num_timesteps)
    linear = lab.forward_clouds()
    cosine = lab.forward_clouds(schedule=preset.right_schedule)
    noise = np.random.default_rng(0).standard_normal((400, 2)).astype(np.float32)
    to_noise = [swd_points(c[t], noise) for c in (linear, cosine)]
    assert to_noise[0] < 0.5 * to_noise[1]  # linear is near N(0, I) by 40 % of T, cosine still far
    for c in (linear, cosine):  # both end in N(0, I)
        assert np.abs(c[-1].mean(0)).max() < 0.15 and np.abs(c[-1].std(0) - 1).max() < 0.15


def test_ddim_trajectories_repeat_and_ddpm_ones_do_not() -> None:
    preset = get_preset("ddpm_vs_ddim")
    lab = Lab(small(preset.config, points=200))
    lab.train(20)
    x_T = lab.x_T(100, seed=0)
    ddim = [lab.trajectories(preset.left, count=100, seed=s, x_T=x_T).paths for s in (1, 2)]
    ddpm = [lab.trajectories(preset.right, count=100, seed=s, x_T=x_T).paths for s in (1, 2)]
    assert np.array_equal(ddim[0], ddim[1])  # deterministic: the fresh noise's seed changes nothing
    assert np.array_equal(ddpm[0][0], ddpm[1][0])  # the same x_T ...
    assert np.abs(ddpm[0][-1] - ddpm[1][-1]).mean() > 0.05  # ... and different samples
    # DDPM's steps jitter: its path is longer per unit of displacement than DDIM's
    def wiggle(paths):
        length = np.linalg.norm(np.diff(paths, axis=0), axis=2).sum(0)
        return float(np.median(length / np.linalg.norm(paths[-1] - paths[0], axis=1)))
    assert wiggle(ddpm[0]) > 2 * wiggle(ddim[0])


def test_few_nfe_euler_lands_farther_than_dpm_solver(trained) -> None:
    preset = get_preset("few_nfe")
    assert (preset.left.method, preset.left.nfe, preset.right.method, preset.right.nfe) == ("euler", 3, "dpmpp_2m", 3)
    for seed in range(3):
        x_T = trained.x_T(300, seed)
        euler, dpm = (trained.distance(trained.trajectories(c, count=300, seed=seed, x_T=x_T).samples, seed=seed)
                      for c in (preset.left, preset.right))
        assert euler > 1.2 * dpm, (seed, euler, dpm)
    many = trained.trajectories(SamplerChoice("dpmpp_2m", 20), count=300).samples
    assert trained.distance(many) < trained.distance(
        trained.trajectories(preset.right, count=300).samples)  # more NFE: closer still


def test_memorise_samples_land_on_the_ten_points() -> None:
    preset = get_preset("memorise")
    assert preset.config.points == 10
    lab = Lab(small(preset.config))
    lab.train(1000)
    samples = lab.trajectories(preset.left, count=300).samples
    fresh = Lab(small(LabConfig(), points=300, data_seed=7)).data.points  # new draws of the distribution
    on_training = float(np.median(lab.nearest_data_distance(samples)))
    fresh_gap = float(np.median(lab.nearest_data_distance(fresh)))
    assert on_training < 0.5 * fresh_gap, (on_training, fresh_gap)


def test_x0_prediction_blurs_to_the_mean_at_large_t(trained) -> None:
    preset = get_preset("x0_blur")
    T = trained.diffusion.num_timesteps
    late, early = trained.field(preset.t(T), extent=1.0), trained.field(round(0.05 * T), extent=1.0)
    spread = [float(f.x0.std(0).mean()) for f in (late, early)]
    assert spread[0] < 0.25 * spread[1]  # at large t every x_t maps near one point ...
    assert np.abs(late.x0.mean(0) - trained.data.points.mean(0)).max() < 0.2  # ... the data's mean


def test_mode_dropping_strong_guidance_collapses_each_class() -> None:
    """The caption's numbers: per-class spread at w = 5 is under half that at w = 1 (the full preset: 0.165 -> 0.075
    after 2,000 steps; this small one collapses further), and each class's samples move out past its mode's centre,
    away from the other classes."""
    preset = get_preset("mode_dropping")
    assert preset.config.conditional and (preset.left.guidance, preset.right.guidance) == (1.0, 5.0)
    lab = Lab(small(preset.config, guide_step=100))
    lab.train(800)
    assert lab.num_classes == 4
    x_T = lab.x_T(400, 0)
    plain, strong = (lab.trajectories(c, count=400, x_T=x_T) for c in (preset.left, preset.right))
    spread = [class_spread(t.samples, t.labels) for t in (plain, strong)]
    data_spread = class_spread(lab.data.points, lab.data.labels)
    assert abs(spread[0] - data_spread) < 0.3 * data_spread, (spread, data_spread)  # w = 1 covers each mode
    assert spread[1] < 0.5 * spread[0], spread  # w = 5: each class loses over half its spread
    for k in range(4):  # pushed outwards, past the mode's centre
        centre = lab.data.points[lab.data.labels == k].mean(0)
        assert np.linalg.norm(strong.samples[strong.labels == k].mean(0)) > np.linalg.norm(centre) + 0.05
    auto = lab.trajectories(SamplerChoice("ddim", 25, guidance=2.0, autoguide=True), count=400, x_T=x_T)
    assert class_spread(auto.samples, auto.labels) > 2 * spread[1]  # autoguidance keeps far more of each mode
