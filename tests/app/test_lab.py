"""app.lab: the 2-D lab trains and samples through the image engine's own paths (no second sampler or loss)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ddpm_studio.app import lab as lab_module
from ddpm_studio.app.lab import Lab, LabConfig, SamplerChoice, swd_points
from ddpm_studio.engine import SAMPLERS, DiffusionConfig, GaussianDiffusion
from ddpm_studio.engine.point_mlp import PointMLPConfig
from ddpm_studio.evaluation import swd as swd_module
from ddpm_studio.training import ema as ema_module


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny MLPs gain nothing from threads and lose much on a busy machine (the lab's own runs use one too)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(**changes) -> LabConfig:
    config = LabConfig(points=200, model=PointMLPConfig(width=16, blocks=1), batch_size=32,
                       diffusion=DiffusionConfig(timesteps=20))
    return replace(config, **changes)


def test_the_lab_calls_the_image_paths(monkeypatch, toy_row) -> None:
    """Loss, EMA, every sampler and the distance are the engine's / training's / evaluation's own functions."""
    calls: dict[str, int] = {}

    def spy(owner, name):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return original(*args, **kwargs)
        monkeypatch.setattr(owner, name, wrapper)

    spy(GaussianDiffusion, "training_losses")
    spy(GaussianDiffusion, "predict")
    spy(ema_module.EMA, "update")
    spy(lab_module, "sample")  # engine.sample, the one entry of the sampler table
    spy(lab_module, "sliced_wasserstein")
    lab = Lab(tiny())
    lab.train(3)
    assert calls["training_losses"] == 3 and calls["update"] == 3
    trajectory = lab.trajectories(SamplerChoice("toy", 4), count=8)  # a row registered in SAMPLERS runs
    assert calls["sample"] == 1 and trajectory.nfe == SAMPLERS["toy"].cost(len(trajectory.timesteps))
    lab.field(5)
    assert calls["predict"] >= 2
    lab.distance(trajectory.samples)
    assert calls["sliced_wasserstein"] == 1
    assert lab_module.sliced_wasserstein is not swd_module.sliced_wasserstein  # (spied) -- it is that function
    source = open(lab_module.__file__).read()
    assert "def ddim" not in source and "posterior" not in source and "randn_like" not in source  # no maths of its own


def test_training_lowers_the_loss_and_reset_repeats_it() -> None:
    lab = Lab(tiny())
    first = lab.train(60, every=20)
    assert [p.step for p in first] == [20, 40, 60]
    assert first[-1].loss < first[0].loss
    lab.reset()
    assert lab.step == 0 and lab.history == []
    assert lab.train(60, every=20) == first  # same seed, same run
    assert lab.train(50, should_stop=lambda: lab.step >= 65) == [replace(first[0], step=65, loss=pytest.approx(
        lab.history[-1].loss))]


def test_trajectories_every_step_and_the_same_x_T() -> None:
    lab = Lab(tiny())
    x_T = lab.x_T(30, seed=4)
    for method in SAMPLERS:
        trajectory = lab.trajectories(SamplerChoice(method, 6), count=30, seed=1, x_T=x_T)
        steps = len(trajectory.timesteps)
        assert trajectory.paths.shape == (steps + 1, 30, 2) and trajectory.x0_preds.shape == (steps, 30, 2)
        assert np.array_equal(trajectory.paths[0], x_T.numpy())
        assert trajectory.nfe == (20 if method == "ddpm" else SAMPLERS[method].cost(steps))
    heun = lab.trajectories(SamplerChoice("heun", 5), count=4)
    assert heun.nfe == 5 and len(heun.timesteps) == 3


def test_field_forward_cloud_and_t_range() -> None:
    lab = Lab(tiny())
    field = lab.field(10, grid=5)
    assert field.positions.shape == field.x0.shape == field.eps.shape == field.score.shape == (25, 2)
    assert np.allclose(field.score, -field.eps / float(lab.diffusion.schedule.sqrt_one_minus_alphas_cumprod[10]))
    gap = [np.abs(lab.forward_cloud(t) - lab.data.points).mean() for t in (0, 10)]
    assert gap[0] < 0.1 < gap[1]  # t = 0: nearly the data
    assert np.array_equal(lab.forward_cloud(7), lab.forward_cloud(7))  # one fixed noise per seed
    assert abs(lab.forward_cloud(19).std() - 1.0) < 0.15  # t = T - 1: nearly N(0, I)
    with pytest.raises(ValueError, match="t must be in 0..19, got 20"):
        lab.field(20)


def test_distance_and_floor() -> None:
    lab = Lab(tiny(points=400))
    floor = lab.floor(200)
    assert 0 < floor < lab.distance(np.random.default_rng(0).standard_normal((200, 2)).astype(np.float32))
    assert swd_points(lab.data.points[:50], lab.data.points[:50]) == 0.0
    small = Lab(tiny(points=10))
    assert small.floor(100) > 0  # fewer points than 2·count: resampled with replacement
    assert small.nearest_data_distance(small.data.points).max() == pytest.approx(0.0, abs=1e-6)


def test_bad_config_is_one_line() -> None:
    with pytest.raises(ValueError, match="model.learned_variance must match"):
        Lab(replace(tiny(), model=PointMLPConfig(learned_variance=True)))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 2"):
        Lab(tiny(batch_size=1))
    torch.manual_seed(0)  # (the lab never touches the global RNG; this only keeps the next test honest)


def test_density_sits_on_the_data() -> None:
    lab = Lab(tiny(data="gmm?modes=2", points=400))
    density = lab.density(grid=32, extent=1.6)
    assert density.shape == (32, 32) and abs(float(density.sum()) - 1.0) < 1e-5 and density.min() >= 0
    # the two modes sit near x = ±0.8 (normalised), y = 0: the peak is in an outer column, not the middle
    peak_x = np.unravel_index(int(density.argmax()), density.shape)[0]
    assert peak_x <= 10 or peak_x >= 21
    assert density[14:18, 14:18].sum() < 0.01


def test_a_conditional_lab_trains_and_guides_through_the_engine(monkeypatch) -> None:
    """Label dropout is the Trainer's (RandomStreams.drop_labels) and every guided run is engine.guidance's
    steer -> ClassifierFreeGuidance / Autoguidance: the lab has no CFG arithmetic of its own."""
    from ddpm_studio.engine import guidance
    from ddpm_studio.training.rng import RandomStreams

    calls: dict[str, int] = {}

    def spy(owner, name):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return original(*args, **kwargs)
        monkeypatch.setattr(owner, name, wrapper)

    spy(RandomStreams, "drop_labels")
    spy(lab_module, "steer")
    spy(guidance.ClassifierFreeGuidance, "forward")
    spy(guidance.Autoguidance, "forward")
    lab = Lab(tiny(data="gmm?modes=3", conditional=True, guide_step=2))
    assert lab.num_classes == 3 and lab.denoiser.num_classes == 3
    lab.train(4)
    assert calls["drop_labels"] == 4 and lab.guide is not None
    guided = lab.trajectories(SamplerChoice("ddim", 5, guidance=3.0), count=9)
    assert calls["steer"] == 1 and calls["forward"] == 5  # one guided call per step
    assert guided.labels.tolist() == [0, 1, 2] * 3
    one = lab.trajectories(SamplerChoice("ddim", 5, guidance=3.0, klass=2), count=4)
    assert one.labels.tolist() == [2] * 4
    calls.clear()
    lab.trajectories(SamplerChoice("ddim", 5, guidance=2.0, autoguide=True), count=6)
    assert calls == {"steer": 1, "forward": 5}  # Autoguidance.forward (the CFG spy shares the name: counted once)
    source = open(lab_module.__file__).read()
    assert "chunk(2)" not in source and "guidance *" not in source and ".scale" not in source and "null" not in source


def test_guidance_bad_input_is_one_line() -> None:
    with pytest.raises(ValueError, match="swiss has no labels to condition on; choose a labelled set"):
        Lab(tiny(data="swiss", conditional=True))
    plain = Lab(tiny())
    with pytest.raises(ValueError, match=r"classifier-free guidance \(w != 1\) needs a class-conditional lab"):
        plain.trajectories(SamplerChoice("ddim", 4, guidance=3.0), count=4)
    with pytest.raises(ValueError, match="a class was asked of an unconditional lab"):
        plain.trajectories(SamplerChoice("ddim", 4, klass=1), count=4)
    with pytest.raises(ValueError, match="autoguidance needs the earlier snapshot taken at step 300; train past it"):
        plain.trajectories(SamplerChoice("ddim", 4, guidance=2.0, autoguide=True), count=4)
    with pytest.raises(ValueError, match="class_dropout must be in"):
        Lab(tiny(class_dropout=2.0))
    with pytest.raises(ValueError, match=r"class 5 is not one of the model's 3 classes \(0..2\)"):
        Lab(tiny(data="gmm?modes=3", conditional=True)).trajectories(SamplerChoice("ddim", 4, klass=5), count=4)
    assert SamplerChoice("ddim", 4, guidance=5.0).label == "DDIM, CFG w=5"
    assert SamplerChoice("ddim", 4, guidance=2.0, autoguide=True, klass=1).label == "DDIM, autoguidance w=2, class 1"


def test_a_twin_lab_changes_one_setting_on_the_same_points() -> None:
    """Two schedules or two objectives side by side are two trained models: the twin shares the points, seed and
    network, differs in one diffusion setting, is made once, and samples from the same x_T."""
    lab = Lab(tiny())
    twin = lab.twin("objective=eps")
    assert twin is lab.twin("objective=eps") and twin.data is lab.data
    assert twin.config.diffusion.objective == "eps" and lab.config.diffusion.objective == "v"
    assert twin.config.diffusion.schedule == lab.config.diffusion.schedule
    assert all(torch.equal(a, b) for a, b in zip(twin.model.parameters(), lab.model.parameters()))  # same start
    lab.train(5)
    twin.train(5)
    x_T = lab.x_T(16, seed=3)
    a, b = (m.trajectories(SamplerChoice("ddim", 4), count=16, x_T=x_T) for m in (lab, twin))
    assert np.array_equal(a.paths[0], b.paths[0]) and not np.allclose(a.samples, b.samples)
    assert lab.twin("schedule=linear").config.diffusion.schedule == "linear"
    lab.reset()
    assert twin.step == 0  # a reset starts both over
    with pytest.raises(ValueError, match="a twin changes one of schedule, objective"):
        lab.twin("timesteps=5")
    with pytest.raises(ValueError, match="schedule"):
        lab.twin("schedule=nope")


def test_mass_levels_enclose_the_asked_mass() -> None:
    from ddpm_studio.app.lab import mass_levels

    density = Lab(tiny(data="gmm?modes=3", points=400)).density(grid=48)
    levels = mass_levels(density, (0.25, 0.5, 0.95))
    assert levels[0] > levels[1] > levels[2] > 0
    for mass, level in zip((0.25, 0.5, 0.95), levels):
        assert abs(float(density[density >= level].sum()) - mass) < 0.03
