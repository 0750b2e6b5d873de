"""Sampling sessions (no Qt): they go through the engine's `sample()`, share x_T between lanes, average draws,
and leave step validation to the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ddpm_studio.app.sampling import LaneSpec, SamplingSession, kept_steps
from ddpm_studio.data.transforms import to_uint8
from ddpm_studio.engine import SamplingConfig, sample
from ddpm_studio.training.checkpoint import load_model
from ddpm_studio.training.runs import DEMO_CHECKPOINT


def _lane(label: str = "a", average: int = 1, **changes) -> LaneSpec:
    config = SamplingConfig(**{"method": "ddim", "steps": 3, "count": 2, "seed": 5, **changes})
    return LaneSpec(label, DEMO_CHECKPOINT, config, average)


def test_one_lane_is_exactly_the_engine_dispatcher():
    session = SamplingSession((_lane(eta=0.5),), device="cpu")
    plan = session.start()
    assert plan.num_steps == (3,) and plan.frame_counts == (3,)
    frames = list(session.frames())
    assert [f.index for f in frames] == [0, 1, 2] and frames[-1].t == 0
    model, diffusion, config = load_model(DEMO_CHECKPOINT)
    steps = list(sample(model.eval(), diffusion, (2, 3, 32, 32), _lane(eta=0.5).sampling, device="cpu"))
    assert np.array_equal(frames[-1].xt, to_uint8(steps[-1].xt.float()))


def test_compared_lanes_start_from_the_same_noise():
    session = SamplingSession((_lane("a"), _lane("b", steps=1)), device="cpu", max_frames=10)
    assert session.start().num_steps == (3, 1)
    frames = list(session.frames())
    first_a = next(f for f in frames if f.lane == 0)
    model, diffusion, _ = load_model(DEMO_CHECKPOINT)
    x_T = torch.randn((2, 3, 32, 32), generator=torch.Generator().manual_seed(5))
    one = next(iter(sample(model.eval(), diffusion, (2, 3, 32, 32), _lane().sampling, noise=x_T, device="cpu")))
    assert np.array_equal(first_a.xt, to_uint8(one.xt.float()))
    assert [f.lane for f in frames][:2] == [1, 0] or frames[0].lane == 0  # lockstep by progress


def test_averaged_draws_give_one_image_per_sample():
    session = SamplingSession((_lane(method="ddpm", average=3),), device="cpu", max_frames=2)
    session.start()
    # DDPM on the demo model would take T = 1000 steps: stop after a few, as a cancel does.
    done = []
    frames = list(session.frames(should_stop=lambda: len(done) >= 4, on_step=lambda lane, step: done.append(step)))
    assert len(done) == 4 and frames[0].xt.shape == (2, 32, 32, 3)


def test_steps_beyond_T_are_the_engines_error_not_clamped():
    with pytest.raises(ValueError, match="steps must be an integer in 1..1000"):
        SamplingSession((_lane(steps=5000),), device="cpu").start()


def test_kept_steps_bounds_the_frame_count():
    assert kept_steps(6, 250) == list(range(6))
    kept = kept_steps(1000, 250)
    assert len(kept) == 250 and kept[0] == 0 and kept[-1] == 999
    assert kept_steps(50, 1) == [49]
